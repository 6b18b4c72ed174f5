//! The catalog `serve` loads at start: a JSON array of
//! `{"sku", "name", "priceCents", "currency", "stock"}` (the same file
//! `make seed-catalog` loads into DynamoDB). Without `--catalog`, the demo
//! catalog (`catalog.json` at the repository root) is built in.

pub use saga_core::catalog::{CatalogError, parse_catalog};
use saga_core::ports::StoreError;
use saga_core::pricing::Product;
use saga_sqlite::{SeedStock, Seeded, SqliteStore};

/// The demo catalog (`catalog.json`).
pub const DEMO_CATALOG: &str = include_str!("../../../../catalog.json");

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
}
