//! Pricing from the catalog and the approval decision.

use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money, MoneyError};
use crate::order::{OrderItem, PricedLine, Pricing, Sku};

/// Default approval threshold amount: orders at or above 1000.00 (in
/// [`DEFAULT_APPROVAL_THRESHOLD_CURRENCY`]) wait for a human.
pub const DEFAULT_APPROVAL_THRESHOLD_CENTS: i64 = 100_000;

/// The currency of the default approval threshold.
pub const DEFAULT_APPROVAL_THRESHOLD_CURRENCY: Currency = Currency::EUR;

/// The default approval threshold: 1000.00 EUR.
pub fn default_approval_threshold() -> Money {
    Money::new(
        DEFAULT_APPROVAL_THRESHOLD_CENTS,
        DEFAULT_APPROVAL_THRESHOLD_CURRENCY,
    )
}

/// An approval threshold can't be below zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the approval threshold (APPROVAL_THRESHOLD_CENTS) must be >= 0 minor units, got {0}")]
pub struct NegativeThreshold(pub i64);

/// The approval threshold of `minor_units` of `currency` (validate's
/// `APPROVAL_THRESHOLD_CENTS` and `APPROVAL_THRESHOLD_CURRENCY`, checked at
/// start-up).
pub fn approval_threshold(
    minor_units: i64,
    currency: Currency,
) -> Result<Money, NegativeThreshold> {
    if minor_units < 0 {
        return Err(NegativeThreshold(minor_units));
    }
    Ok(Money::new(minor_units, currency))
}

/// A catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub sku: Sku,
    pub name: String,
    pub price: Money,
    pub stock: i64,
}

/// Why an order can't be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("unknown SKU: {}", .0.iter().map(Sku::as_str).collect::<Vec<_>>().join(", "))]
    UnknownSkus(Vec<Sku>),
    #[error("the order mixes currencies ({0} and {1}); order them separately")]
    MixedCurrencies(String, String),
    #[error("the price of {0} is not positive")]
    InvalidPrice(Sku),
    #[error("the order total overflows")]
    Overflow,
}

/// Price `items` from `catalog` (which may hold other products too).
pub fn price_order(
    items: &[OrderItem],
    catalog: &[Product],
    approval_threshold: Money,
) -> Result<Pricing, PricingError> {
    let unknown: Vec<Sku> = items
        .iter()
        .filter(|i| !catalog.iter().any(|p| p.sku == i.sku))
        .map(|i| i.sku.clone())
        .collect();
    if !unknown.is_empty() {
        return Err(PricingError::UnknownSkus(unknown));
    }
    let mut lines = Vec::with_capacity(items.len());
    let mut total: Option<Money> = None;
    for item in items {
        let Some(product) = catalog.iter().find(|p| p.sku == item.sku) else {
            return Err(PricingError::UnknownSkus(vec![item.sku.clone()]));
        };
        if product.price.minor_units() <= 0 {
            return Err(PricingError::InvalidPrice(product.sku.clone()));
        }
        let line_total = product
            .price
            .checked_mul(item.quantity.get())
            .map_err(|_| PricingError::Overflow)?;
        total = Some(match total {
            None => line_total,
            Some(t) => t.checked_add(line_total).map_err(|e| match e {
                MoneyError::CurrencyMismatch(a, b) => {
                    PricingError::MixedCurrencies(b.to_string(), a.to_string())
                }
                MoneyError::Overflow => PricingError::Overflow,
            })?,
        });
        lines.push(PricedLine {
            sku: item.sku.clone(),
            name: product.name.clone(),
            quantity: item.quantity,
            unit_price_cents: product.price.minor_units(),
        });
    }
    let Some(total) = total else {
        return Err(PricingError::UnknownSkus(vec![]));
    };
    Ok(Pricing {
        lines,
        requires_approval: requires_approval(total, approval_threshold),
        total,
    })
}

/// Orders at or above the threshold wait for a human, and so does every order
/// in another currency than the threshold's: there is no exchange rate here,
/// and comparing minor units across currencies (100000 is 1000 EUR but
/// 100000 VND) would wave large orders through.
pub fn requires_approval(total: Money, threshold: Money) -> bool {
    total.currency() != threshold.currency() || total.minor_units() >= threshold.minor_units()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use crate::order::Quantity;

    fn product(sku: &str, cents: i64, currency: &str) -> Product {
        Product {
            sku: Sku::parse(sku).unwrap(),
            name: format!("{sku} name"),
            price: Money::new(cents, Currency::parse(currency).unwrap()),
            stock: 10,
        }
    }

    fn eur(cents: i64) -> Money {
        Money::new(cents, Currency::parse("EUR").unwrap())
    }

    fn item(sku: &str, q: u32) -> OrderItem {
        OrderItem {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::new(q).unwrap(),
        }
    }

    #[test]
    fn total_is_the_sum_of_catalog_prices_times_quantities() {
        let catalog = [product("A", 1999, "EUR"), product("B", 500, "EUR")];
        let pricing = price_order(&[item("A", 2), item("B", 3)], &catalog, eur(100_000)).unwrap();
        assert_eq!(pricing.total.minor_units(), 2 * 1999 + 3 * 500);
        assert_eq!(pricing.lines[0].unit_price_cents, 1999);
        assert!(!pricing.requires_approval);
    }

    #[test]
    fn threshold_is_inclusive() {
        let catalog = [product("A", 50_000, "EUR")];
        assert!(
            price_order(&[item("A", 2)], &catalog, eur(100_000))
                .unwrap()
                .requires_approval
        );
        assert!(
            !price_order(&[item("A", 1)], &catalog, eur(100_000))
                .unwrap()
                .requires_approval
        );
    }

    #[test]
    fn unknown_skus_are_all_named() {
        let catalog = [product("A", 100, "EUR")];
        let err = price_order(
            &[item("X", 1), item("A", 1), item("Y", 1)],
            &catalog,
            eur(1),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "unknown SKU: X, Y");
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let catalog = [product("A", 100, "EUR"), product("B", 100, "USD")];
        assert!(matches!(
            price_order(&[item("A", 1), item("B", 1)], &catalog, eur(1)),
            Err(PricingError::MixedCurrencies(..))
        ));
    }

    #[test]
    fn an_order_in_another_currency_than_the_thresholds_needs_approval() {
        // 100 VND is far below 100000 minor units, but not comparable to EUR.
        let catalog = [product("A", 100, "VND"), product("B", 100, "EUR")];

        let vnd = price_order(&[item("A", 1)], &catalog, eur(100_000)).unwrap();
        let eur_order = price_order(&[item("B", 1)], &catalog, eur(100_000)).unwrap();

        assert!(vnd.requires_approval);
        assert!(!eur_order.requires_approval);
    }

    #[test]
    fn a_jpy_threshold_compares_in_jpy_minor_units() {
        let jpy = |yen| Money::new(yen, Currency::parse("JPY").unwrap());
        let catalog = [product("A", 50_000, "JPY")];

        assert!(
            !price_order(&[item("A", 1)], &catalog, jpy(100_000))
                .unwrap()
                .requires_approval
        );
        assert!(
            price_order(&[item("A", 2)], &catalog, jpy(100_000))
                .unwrap()
                .requires_approval
        );
    }

    #[test]
    fn the_threshold_settings_default_to_eur_100000_and_refuse_bad_values() {
        use crate::env::{EnvError, parse_or_from};
        let lookup = |v: &str| match v {
            "LOWER" => Some("eur".to_owned()),
            "YEN" => Some("JPY".to_owned()),
            _ => None,
        };
        let currency = |var| parse_or_from(var, DEFAULT_APPROVAL_THRESHOLD_CURRENCY, lookup);

        assert_eq!(
            approval_threshold(DEFAULT_APPROVAL_THRESHOLD_CENTS, currency("UNSET").unwrap()),
            Ok(eur(100_000))
        );
        assert_eq!(
            approval_threshold(100_000, currency("YEN").unwrap())
                .unwrap()
                .currency()
                .as_str(),
            "JPY"
        );
        assert!(matches!(currency("LOWER"), Err(EnvError::Invalid { var, .. }) if var == "LOWER"));
        assert_eq!(
            approval_threshold(-1, Currency::EUR)
                .unwrap_err()
                .to_string(),
            "the approval threshold (APPROVAL_THRESHOLD_CENTS) must be >= 0 minor units, got -1"
        );
    }
}
