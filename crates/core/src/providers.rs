//! Simulated payment and shipping providers: deterministic, documented, like a
//! card network's test tokens. Both sit behind the [`PaymentGateway`] and
//! [`Carrier`] ports, so a real provider is one adapter away.
//!
//! Payment tokens (`payment.token`):
//!
//! | token | charge | refund |
//! |---|---|---|
//! | `tok_visa` and any other `tok_…` | succeeds | succeeds |
//! | `tok_declined` | `PaymentDeclined` | – |
//! | `tok_unavailable` | `PaymentUnavailable` on every attempt | – |
//! | `tok_flaky` | `PaymentUnavailable` on the first attempt, then succeeds | succeeds |
//! | `tok_refund_fails` | succeeds | `PaymentUnavailable` on every attempt (compensation fails) |
//!
//! Every charge attempt is counted on the order (through [`PaymentAttempts`]),
//! so [`PaymentGateway::find_charge`] can tell whether a charge happened even
//! when the pay step never recorded it.
//!
//! Shipping: postal code `00000` is undeliverable (`ShippingFailed`); any other
//! address gets a tracking number.
//!
//! Charge, refund and tracking ids are derived from the order id, so a retried
//! call after a lost response gets the same id: nothing is charged or shipped twice.

use std::sync::Arc;

use async_trait::async_trait;

use crate::OrderId;
use crate::money::Money;
use crate::order::{Address, Order, OrderItem, PaymentToken};
use crate::ports::{
    Carrier, Charge, PaymentAttempts, PaymentError, PaymentGateway, Refund, Shipment, ShippingError,
};

pub const TOKEN_DECLINED: &str = "tok_declined";
pub const TOKEN_UNAVAILABLE: &str = "tok_unavailable";
pub const TOKEN_FLAKY: &str = "tok_flaky";
pub const TOKEN_REFUND_FAILS: &str = "tok_refund_fails";
pub const UNDELIVERABLE_POSTAL_CODE: &str = "00000";

/// The simulated payment provider. It remembers attempts per order through
/// [`PaymentAttempts`] (the order record), so `tok_flaky` behaves the same
/// whichever Lambda instance serves the retry.
#[derive(Clone)]
pub struct SimulatedPayments {
    attempts: Arc<dyn PaymentAttempts>,
}

impl std::fmt::Debug for SimulatedPayments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimulatedPayments")
    }
}

impl SimulatedPayments {
    pub fn new(attempts: Arc<dyn PaymentAttempts>) -> Self {
        Self { attempts }
    }
}

#[async_trait]
impl PaymentGateway for SimulatedPayments {
    async fn charge(
        &self,
        order_id: &OrderId,
        token: &PaymentToken,
        amount: Money,
    ) -> Result<Charge, PaymentError> {
        let attempt = self.attempts.next_payment_attempt(order_id).await?;
        match token.as_str() {
            TOKEN_DECLINED => {
                return Err(PaymentError::Declined {
                    reason: "the card was declined (tok_declined)".into(),
                });
            }
            TOKEN_UNAVAILABLE => {
                return Err(PaymentError::Unavailable {
                    reason: "the payment provider timed out (tok_unavailable)".into(),
                });
            }
            TOKEN_FLAKY if attempt <= 1 => {
                return Err(PaymentError::Unavailable {
                    reason: "the payment provider timed out on the first attempt (tok_flaky)"
                        .into(),
                });
            }
            _ => {}
        }
        Ok(Charge {
            charge_id: format!("ch_{order_id}"),
            amount,
        })
    }

    async fn refund(
        &self,
        order_id: &OrderId,
        token: &PaymentToken,
        _charge: &Charge,
    ) -> Result<Refund, PaymentError> {
        if token.as_str() == TOKEN_REFUND_FAILS {
            return Err(PaymentError::Unavailable {
                reason: "the payment provider refused to refund (tok_refund_fails)".into(),
            });
        }
        Ok(Refund {
            refund_id: format!("re_{order_id}"),
        })
    }

    async fn find_charge(&self, order: &Order) -> Result<Option<Charge>, PaymentError> {
        // Replays the token's rule over the attempts counted on the order.
        let charged = match order.payment_token().as_str() {
            TOKEN_DECLINED | TOKEN_UNAVAILABLE => false,
            TOKEN_FLAKY => order.payment_attempts() >= 2,
            _ => order.payment_attempts() >= 1,
        };
        Ok(order.pricing().filter(|_| charged).map(|p| Charge {
            charge_id: format!("ch_{}", order.order_id()),
            amount: p.total,
        }))
    }
}

/// The simulated carrier.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimulatedCarrier;

#[async_trait]
impl Carrier for SimulatedCarrier {
    async fn create_shipment(
        &self,
        order_id: &OrderId,
        address: &Address,
        _lines: &[OrderItem],
    ) -> Result<Shipment, ShippingError> {
        if address.postal_code == UNDELIVERABLE_POSTAL_CODE {
            return Err(ShippingError::Refused {
                reason: format!("postal code {UNDELIVERABLE_POSTAL_CODE} is undeliverable"),
            });
        }
        Ok(Shipment {
            tracking_number: format!("TRK{order_id}"),
        })
    }

    async fn cancel_shipment(
        &self,
        _order_id: &OrderId,
        _tracking_number: Option<&str>,
    ) -> Result<(), ShippingError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::fixtures::{Stage, order_at};
    use crate::memory::MemoryStore;
    use crate::money::Currency;

    async fn setup() -> (SimulatedPayments, OrderId, Money) {
        use crate::ports::OrderStore;
        let store = Arc::new(MemoryStore::default());
        let now = Timestamp::from_millis(1_767_225_600_000).unwrap();
        let order = crate::fixtures::received_order(&[("SKU-1", 1)], "tok_flaky", "10115", now);
        let id = order.order_id().clone();
        store.insert(&order).await.unwrap();
        (
            SimulatedPayments::new(store),
            id,
            Money::new(1000, Currency::parse("EUR").unwrap()),
        )
    }

    fn tok(s: &str) -> PaymentToken {
        PaymentToken::parse(s).unwrap()
    }

    #[tokio::test]
    async fn documented_tokens_behave_as_documented() {
        let (p, id, amount) = setup().await;
        let charge = p.charge(&id, &tok("tok_visa"), amount).await.unwrap();
        assert_eq!(charge.charge_id, format!("ch_{id}"));
        assert!(p.charge(&id, &tok("tok_mastercard"), amount).await.is_ok());
        assert!(matches!(
            p.charge(&id, &tok(TOKEN_DECLINED), amount).await,
            Err(PaymentError::Declined { .. })
        ));
        for _ in 0..3 {
            assert!(matches!(
                p.charge(&id, &tok(TOKEN_UNAVAILABLE), amount).await,
                Err(PaymentError::Unavailable { .. })
            ));
        }
        assert!(matches!(
            p.refund(&id, &tok(TOKEN_REFUND_FAILS), &charge).await,
            Err(PaymentError::Unavailable { .. })
        ));
        assert!(p.refund(&id, &tok("tok_visa"), &charge).await.is_ok());
    }

    #[tokio::test]
    async fn flaky_fails_exactly_once_per_order() {
        let (p, id, amount) = setup().await;
        assert!(matches!(
            p.charge(&id, &tok(TOKEN_FLAKY), amount).await,
            Err(PaymentError::Unavailable { .. })
        ));
        assert!(p.charge(&id, &tok(TOKEN_FLAKY), amount).await.is_ok());
        assert!(p.charge(&id, &tok(TOKEN_FLAKY), amount).await.is_ok());
    }

    #[tokio::test]
    async fn undeliverable_postal_code_is_refused() {
        let id = OrderId::generate(Timestamp::from_millis(1_767_225_600_000).unwrap());
        let mut address = Address {
            name: "A".into(),
            line1: "1 St".into(),
            line2: None,
            city: "C".into(),
            postal_code: "00000".into(),
            country: "DE".into(),
        };
        assert!(matches!(
            SimulatedCarrier.create_shipment(&id, &address, &[]).await,
            Err(ShippingError::Refused { .. })
        ));
        address.postal_code = "10115".into();
        let s = SimulatedCarrier
            .create_shipment(&id, &address, &[])
            .await
            .unwrap();
        assert_eq!(s.tracking_number, format!("TRK{id}"));
    }

    #[tokio::test]
    async fn find_charge_knows_whether_a_charge_happened_without_a_record() {
        let store = Arc::new(MemoryStore::with_products(crate::fixtures::demo_catalog()));
        let p = SimulatedPayments::new(store.clone());
        let now = Timestamp::from_millis(1_767_225_600_000).unwrap();
        for (token, attempts, charged) in [
            ("tok_visa", 0, false),
            ("tok_visa", 1, true),
            ("tok_declined", 1, false),
            ("tok_unavailable", 3, false),
            ("tok_flaky", 1, false),
            ("tok_flaky", 2, true),
        ] {
            let order = order_at(
                &*store,
                Stage::Reserved,
                &[("SKU-1", 2)],
                token,
                "10115",
                now,
            )
            .await;
            let amount = order.pricing().unwrap().total;
            for _ in 0..attempts {
                let _ = p.charge(order.order_id(), &tok(token), amount).await;
            }
            let order = store.order(order.order_id()).unwrap();
            let found = p.find_charge(&order).await.unwrap();
            assert_eq!(
                found.is_some(),
                charged,
                "{token} after {attempts} attempts"
            );
            if let Some(c) = found {
                assert_eq!(
                    (c.charge_id, c.amount.minor_units()),
                    (format!("ch_{}", order.order_id()), 3_998)
                );
            }
        }
    }
}
