//! The catalog: products by SKU (batched reads), upserts and seeding.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use saga_core::order::Sku;
use saga_core::ports::{Catalog, CatalogAdmin, StoreError};
use saga_core::pricing::Product;
use tracing::instrument;

use super::{DynamoStore, item_error};
use crate::config::TableName;
use crate::error::{ItemError, classify};
use crate::expr::{n, s};
use crate::items::{self, Item};

/// BatchGetItem: keys per request, and rounds for unprocessed keys.
const BATCH_GET_MAX_KEYS: usize = 100;
const BATCH_GET_MAX_ROUNDS: u32 = 6;

impl DynamoStore {
    /// Load a catalog entry without disturbing live stock: a new product gets
    /// the entry's stock; an existing one gets its name, price and currency
    /// updated and keeps the stock it has (which accounts for reserved and
    /// sold units). `reset_stock` overwrites the stock too.
    #[instrument(skip(self, product), fields(sku = %product.sku.as_str()), err(Display))]
    pub async fn seed_product(
        &self,
        product: &Product,
        reset_stock: bool,
    ) -> Result<(), StoreError> {
        const OP: &str = "products.seed";
        if reset_stock {
            return self.upsert_product(product).await;
        }
        let table = self.table(TableName::Products, OP)?;
        self.client
            .update_item()
            .table_name(table)
            .key("sku", s(product.sku.as_str()))
            .update_expression("SET #name = :name, priceCents = :price, currency = :currency, stock = if_not_exists(stock, :stock)")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(product.name.clone()))
            .expression_attribute_values(":price", n(product.price.minor_units()))
            .expression_attribute_values(":currency", s(product.price.currency().as_str()))
            .expression_attribute_values(":stock", n(product.stock))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// Read one batch of at most [`BATCH_GET_MAX_KEYS`] SKUs into `found`,
    /// asking again (with backoff) for the keys DynamoDB left unprocessed.
    async fn products_batch(
        &self,
        table: &str,
        chunk: &[&Sku],
        found: &mut HashMap<Sku, Product>,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let keys: Vec<Item> = chunk
            .iter()
            .map(|sku| HashMap::from([("sku".to_owned(), s(sku.as_str()))]))
            .collect();
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::permanent(op, e))?;
        let mut round = 0;
        loop {
            let out = self
                .client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| classify(op, e))?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(table))
                .unwrap_or_default()
            {
                let p = items::product_from_item(item).map_err(|e| item_error(op, e))?;
                found.insert(p.sku.clone(), p);
            }
            match out.unprocessed_keys.and_then(|mut u| u.remove(table)) {
                Some(rest) if !rest.keys().is_empty() => {
                    round += 1;
                    if round >= BATCH_GET_MAX_ROUNDS {
                        return Err(StoreError::transient(
                            op,
                            ItemError::Inconsistent(format!(
                                "{} keys still unprocessed after {round} rounds",
                                rest.keys().len()
                            )),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(25 << round)).await;
                    request = rest;
                }
                _ => return Ok(()),
            }
        }
    }
}

#[async_trait]
impl Catalog for DynamoStore {
    #[instrument(skip_all, fields(skus = skus.len()), err(Display))]
    async fn products(&self, skus: &[Sku]) -> Result<Vec<Product>, StoreError> {
        const OP: &str = "products.get";
        let table = self.table(TableName::Products, OP)?;
        let mut unique: Vec<&Sku> = Vec::new();
        for sku in skus {
            if !unique.contains(&sku) {
                unique.push(sku);
            }
        }
        let mut found: HashMap<Sku, Product> = HashMap::new();
        for chunk in unique.chunks(BATCH_GET_MAX_KEYS) {
            self.products_batch(table, chunk, &mut found, OP).await?;
        }
        Ok(skus.iter().filter_map(|s| found.get(s).cloned()).collect())
    }
}

#[async_trait]
impl CatalogAdmin for DynamoStore {
    #[instrument(skip_all, fields(sku = %product.sku.as_str()), err(Display))]
    async fn upsert_product(&self, product: &Product) -> Result<(), StoreError> {
        const OP: &str = "products.put";
        let table = self.table(TableName::Products, OP)?;
        let item = items::product_to_item(product).map_err(|e| StoreError::permanent(OP, e))?;
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }
}
