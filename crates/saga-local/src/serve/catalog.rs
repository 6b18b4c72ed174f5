//! The catalog `serve` loads at start: a JSON array of
//! `{"sku", "name", "priceCents", "currency", "stock"}` (the same file
//! `make seed-catalog` loads into DynamoDB). Without `--catalog`, the demo
//! catalog (`catalog.json` at the repository root) is built in.

use saga_core::money::{Currency, Money};
use saga_core::order::Sku;
use saga_core::ports::StoreError;
use saga_core::pricing::Product;
use saga_sqlite::{SeedStock, Seeded, SqliteStore};
use serde::Deserialize;

/// The demo catalog (`catalog.json`).
pub const DEMO_CATALOG: &str = include_str!("../../../../catalog.json");

/// Why a catalog was refused; names the entry.
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

/// What seeding did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// New SKUs (inserted with the catalog's stock).
    pub inserted: usize,
    /// SKUs that existed (name and price updated; stock kept unless reset).
    pub updated: usize,
}

/// Upsert every product. Existing products keep their stock unless
/// `reset_stock`: the stored stock accounts for reservations of orders that
/// are still running.
pub async fn seed(
    store: &SqliteStore,
    products: &[Product],
    reset_stock: bool,
) -> Result<SeedReport, StoreError> {
    let mode = if reset_stock {
        SeedStock::Reset
    } else {
        SeedStock::Keep
    };
    let mut report = SeedReport::default();
    for p in products {
        match store.seed_product(p, mode).await? {
            Seeded::Inserted => report.inserted += 1,
            Seeded::Updated => report.updated += 1,
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_parses_and_has_a_product_that_needs_approval() {
        let products = parse_catalog(DEMO_CATALOG).unwrap();
        assert!(products.len() >= 3);
        assert!(products.iter().any(|p| p.price.minor_units() >= 100_000));
        assert!(products.iter().any(|p| p.price.minor_units() < 100_000));
    }

    #[test]
    fn bad_entries_are_named() {
        let cases = [
            ("{}", "not a JSON array"),
            (
                r#"[{"sku":"SKU-1","name":"A","priceCents":0,"currency":"EUR","stock":1}]"#,
                "entry 0 (sku \"SKU-1\"): priceCents must be a positive",
            ),
            (
                r#"[{"sku":"SKU-1","name":"A","priceCents":1,"currency":"EUR","stock":-1}]"#,
                "stock must not be negative",
            ),
            (
                r#"[{"sku":"SKU-1","name":"A","priceCents":1,"currency":"eur","stock":1}]"#,
                "entry 0",
            ),
            (
                r#"[{"sku":"SKU-1","name":" ","priceCents":1,"currency":"EUR","stock":1}]"#,
                "name must not be empty",
            ),
            (
                r#"[{"sku":"SKU-1","name":"A","priceCents":1,"currency":"EUR","stock":1},
                    {"sku":"SKU-1","name":"B","priceCents":1,"currency":"EUR","stock":1}]"#,
                "entry 1: SKU SKU-1 is listed twice",
            ),
        ];
        for (json, expected) in cases {
            let err = parse_catalog(json).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }
}
