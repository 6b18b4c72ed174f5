//! Products: the catalog, its seeding at start-up, and the stock.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use saga_core::money::{Currency, Money};
use saga_core::order::Sku;
use saga_core::ports::{Catalog, CatalogAdmin, StoreError};
use saga_core::pricing::Product;

use crate::{SqliteStore, classify};

/// What [`SqliteStore::seed_product`] does to the stock of a SKU that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedStock {
    /// Keep the stored stock (the default on restart).
    Keep,
    /// Overwrite it with the catalog's stock.
    Reset,
}

/// What [`SqliteStore::seed_product`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    /// A new SKU, inserted with the catalog's stock.
    Inserted,
    /// An existing SKU, updated.
    Updated,
}

impl SqliteStore {
    /// Current stock of a product.
    pub async fn stock(&self, sku: &Sku) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT stock FROM products WHERE sku = ?1")
                .and_then(|mut stmt| {
                    stmt.query_row(params![sku.as_str()], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| classify("products.stock", e))
        })
    }

    /// Every product, by SKU.
    pub async fn all_products(&self) -> Result<Vec<Product>, StoreError> {
        self.run("products.all", |c| {
            let mut stmt = c
                .prepare(
                    "SELECT sku, name, price_cents, currency, stock FROM products ORDER BY sku",
                )
                .map_err(|e| classify("products.all", e))?;
            let rows = stmt
                .query_map([], product_row)
                .map_err(|e| classify("products.all", e))?;
            rows.map(|r| r.map_err(|e| classify("products.all", e)).and_then(|p| p))
                .collect()
        })
        .await
    }

    /// Load one catalog entry at start-up. A new SKU is inserted with its
    /// stock. An existing SKU gets the entry's name, price and currency; its
    /// stock is kept unless `stock` is [`SeedStock::Reset`], because the stored
    /// stock already accounts for reservations (resetting it on every restart
    /// would resurrect reserved units).
    pub async fn seed_product(
        &self,
        product: &Product,
        stock: SeedStock,
    ) -> Result<Seeded, StoreError> {
        const OP: &str = "products.seed";
        let p = product.clone();
        self.write(OP, move |tx| {
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO products (sku, name, price_cents, currency, stock) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![p.sku.as_str(), p.name, p.price.minor_units(), p.price.currency().as_str(), p.stock],
                )
                .map_err(|e| classify(OP, e))?;
            if inserted == 1 {
                return Ok((Seeded::Inserted, true));
            }
            let currency = p.price.currency();
            let (sku, price, currency) =
                (p.sku.as_str(), p.price.minor_units(), currency.as_str());
            match stock {
                SeedStock::Keep => tx.execute(
                    "UPDATE products SET name = ?2, price_cents = ?3, currency = ?4 WHERE sku = ?1",
                    params![sku, p.name, price, currency],
                ),
                SeedStock::Reset => tx.execute(
                    "UPDATE products SET name = ?2, price_cents = ?3, currency = ?4, stock = ?5 WHERE sku = ?1",
                    params![sku, p.name, price, currency, p.stock],
                ),
            }
            .map_err(|e| classify(OP, e))?;
            Ok((Seeded::Updated, true))
        })
        .await
    }
}

fn product_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Product, StoreError>> {
    let sku: String = r.get(0)?;
    let name: String = r.get(1)?;
    let price: i64 = r.get(2)?;
    let currency: String = r.get(3)?;
    let stock: i64 = r.get(4)?;
    Ok((|| {
        let sku = Sku::parse(&sku).map_err(|e| StoreError::corrupt("products.get", e))?;
        let currency =
            Currency::parse(&currency).map_err(|e| StoreError::corrupt("products.get", e))?;
        Ok(Product {
            sku,
            name,
            price: Money::new(price, currency),
            stock,
        })
    })())
}

#[async_trait]
impl Catalog for SqliteStore {
    async fn products(&self, skus: &[Sku]) -> Result<Vec<Product>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT sku, name, price_cents, currency, stock FROM products WHERE sku = ?1",
                )
                .map_err(|e| classify("products.get", e))?;
            let mut out = Vec::with_capacity(skus.len());
            for sku in skus {
                if let Some(p) = stmt
                    .query_row(params![sku.as_str()], product_row)
                    .optional()
                    .map_err(|e| classify("products.get", e))?
                {
                    out.push(p?);
                }
            }
            Ok(out)
        })
    }
}

#[async_trait]
impl CatalogAdmin for SqliteStore {
    async fn upsert_product(&self, product: &Product) -> Result<(), StoreError> {
        let p = product.clone();
        self.write("products.put", move |c| {
            c.execute(
                "INSERT INTO products (sku, name, price_cents, currency, stock) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price_cents = excluded.price_cents,
                   currency = excluded.currency, stock = excluded.stock",
                params![p.sku.as_str(), p.name, p.price.minor_units(), p.price.currency().as_str(), p.stock],
            )
            .map_err(|e| classify("products.put", e))?;
            Ok(((), true))
        })
        .await
    }
}
