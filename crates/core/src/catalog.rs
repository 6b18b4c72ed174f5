//! Catalog files: a JSON array of `{"sku", "name", "priceCents", "currency",
//! "stock"}`. The same file seeds the DynamoDB products table
//! (`make seed-catalog`) and the local SQLite one (`saga-local serve --catalog`).

use serde::Deserialize;

use crate::money::{Currency, Money};
use crate::order::Sku;
use crate::pricing::Product;

/// Why a catalog file was refused; names the entry.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the catalog is not a JSON array of products")]
    NotAnArray(#[source] serde_json::Error),
    #[error("entry {index}{}: {message}", sku_suffix(.sku))]
    InvalidEntry {
        index: usize,
        sku: Option<String>,
        message: String,
    },
    #[error("entry {index}: SKU {sku} is listed twice")]
    DuplicateSku { index: usize, sku: String },
}

fn sku_suffix(sku: &Option<String>) -> String {
    sku.as_ref()
        .map(|s| format!(" (sku {s:?})"))
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    sku: Sku,
    name: String,
    price_cents: i64,
    currency: Currency,
    stock: i64,
}

/// Parse and check a catalog: SKUs and currencies through the domain types,
/// prices positive, stock not negative, names non-empty, SKUs unique.
pub fn parse_catalog(json: &str) -> Result<Vec<Product>, CatalogError> {
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(CatalogError::NotAnArray)?;
    let mut products: Vec<Product> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let sku = entry.get("sku").and_then(|s| s.as_str()).map(str::to_owned);
        let invalid = |message: &str| CatalogError::InvalidEntry {
            index,
            sku: sku.clone(),
            message: message.to_owned(),
        };
        let e: Entry = serde_json::from_value(entry).map_err(|e| invalid(&e.to_string()))?;
        if e.name.trim().is_empty() {
            return Err(invalid("name must not be empty"));
        }
        if e.price_cents <= 0 {
            return Err(invalid(
                "priceCents must be a positive number of minor units",
            ));
        }
        if e.stock < 0 {
            return Err(invalid("stock must not be negative"));
        }
        if products.iter().any(|p| p.sku == e.sku) {
            return Err(CatalogError::DuplicateSku {
                index,
                sku: e.sku.as_str().to_owned(),
            });
        }
        products.push(Product {
            sku: e.sku,
            name: e.name,
            price: Money::new(e.price_cents, e.currency),
            stock: e.stock,
        });
    }
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_catalog_becomes_products() {
        let products = parse_catalog(
            r#"[{"sku":"SKU-1","name":"Beans","priceCents":1999,"currency":"EUR","stock":100}]"#,
        )
        .unwrap();
        assert_eq!(
            products,
            vec![crate::fixtures::product("SKU-1", "Beans", 1999, 100)]
        );
    }

    #[test]
    fn errors_name_the_entry_and_the_problem() {
        let cases = [
            (
                r#"[{"sku":"SKU-1","name":"A","priceCents":1,"currency":"EUR","stock":1},
                    {"sku":"bad sku","name":"B","priceCents":1,"currency":"EUR","stock":1}]"#,
                "entry 1 (sku \"bad sku\"): ",
            ),
            (
                r#"[{"sku":"SKU-1","name":"A","priceCents":0,"currency":"EUR","stock":1}]"#,
                "entry 0 (sku \"SKU-1\"): priceCents must be a positive",
            ),
            (
                r#"[{"sku":"SKU-1","name":"A","priceCents":1,"currency":"eur","stock":1}]"#,
                "entry 0 (sku \"SKU-1\"): currency must be three upper-case letters",
            ),
            (
                r#"[{"sku":"SKU-1","name":"A","priceCents":1,"currency":"EUR","stock":-1}]"#,
                "stock must not be negative",
            ),
            (
                r#"[{"sku":"SKU-1","name":" ","priceCents":1,"currency":"EUR","stock":1}]"#,
                "name must not be empty",
            ),
            (
                r#"[{"sku":"SKU-1","name":"A","price":1,"currency":"EUR","stock":1}]"#,
                "unknown field `price`",
            ),
            (
                r#"[{"sku":"SKU-1","name":"A","priceCents":1,"currency":"EUR","stock":1},
                    {"sku":"SKU-1","name":"A","priceCents":1,"currency":"EUR","stock":1}]"#,
                "entry 1: SKU SKU-1 is listed twice",
            ),
            (r#"{"sku":"SKU-1"}"#, "not a JSON array"),
        ];
        for (json, expected) in cases {
            let err = parse_catalog(json).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }
}
