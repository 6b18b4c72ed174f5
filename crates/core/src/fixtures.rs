//! Sample data for tests across the workspace (a demo catalog and valid
//! requests). Not used by production code paths.

use serde_json::{Value, json};

use crate::money::{Currency, Money};
use crate::order::{Order, Sku};
use crate::pricing::Product;
use crate::request::{OrderRequest, parse_order_value};
use crate::{OrderId, Timestamp};

/// A valid `POST /orders` body for `items` (`(sku, quantity)`), paying with `token`
/// and shipping to `postal_code`.
pub fn order_body(items: &[(&str, u32)], token: &str, postal_code: &str) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(s, q)| json!({"sku": s, "quantity": q}))
        .collect();
    json!({
        "customerId": "c-1",
        "email": "buyer@example.com",
        "items": items,
        "payment": {"token": token},
        "shippingAddress": {
            "name": "Ada Lovelace",
            "line1": "1 Analytical Way",
            "city": "London",
            "postalCode": postal_code,
            "country": "GB"
        }
    })
}

/// A parsed request (panics on an invalid fixture: a test bug).
#[allow(clippy::expect_used)]
pub fn order_request(items: &[(&str, u32)], token: &str, postal_code: &str) -> OrderRequest {
    parse_order_value(&order_body(items, token, postal_code)).expect("fixture request is valid")
}

/// A new order in `RECEIVED`.
pub fn received_order(
    items: &[(&str, u32)],
    token: &str,
    postal_code: &str,
    now: Timestamp,
) -> Order {
    Order::receive(
        OrderId::generate(now),
        order_request(items, token, postal_code),
        now,
    )
}

/// A product (panics on an invalid fixture: a test bug).
#[allow(clippy::expect_used)]
pub fn product(sku: &str, name: &str, price_cents: i64, stock: i64) -> Product {
    Product {
        sku: Sku::parse(sku).expect("fixture sku"),
        name: name.to_owned(),
        price: Money::new(price_cents, Currency::parse("EUR").expect("EUR")),
        stock,
    }
}

/// The demo catalog: cheap things, and one expensive enough to need approval.
pub fn demo_catalog() -> Vec<Product> {
    vec![
        product("SKU-1", "Espresso beans 1 kg", 1_999, 100),
        product("SKU-2", "Milk frother", 4_950, 25),
        product("SKU-3", "Grinder", 12_900, 10),
        product("SKU-4", "Dual-boiler espresso machine", 149_000, 5),
    ]
}

/// How far [`order_at`] brings an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Received,
    Validated,
    Reserved,
    Paid,
}

/// A new order brought to `stage` through the store's own conditional
/// updates, priced from [`demo_catalog`] (at the default approval threshold,
/// [`crate::pricing::DEFAULT_APPROVAL_THRESHOLD_CENTS`]): stock is really
/// reserved from `Reserved` on. Panics on a store failure (a test bug).
#[allow(clippy::expect_used, clippy::panic)]
pub async fn order_at<S>(
    store: &S,
    stage: Stage,
    items: &[(&str, u32)],
    token: &str,
    postal_code: &str,
    now: Timestamp,
) -> Order
where
    S: crate::ports::OrderStore + crate::ports::StockReservations + ?Sized,
{
    use crate::order::{Change, OrderStatus, OrderUpdate, PaymentRecord};
    use crate::ports::{ReserveOutcome, UpdateOutcome};

    let order = received_order(items, token, postal_code, now);
    let id = order.order_id().clone();
    store
        .insert(&order)
        .await
        .expect("insert the fixture order");
    let apply = |update: OrderUpdate| {
        let id = id.clone();
        async move {
            match store
                .update(&id, &update)
                .await
                .expect("update the fixture order")
            {
                UpdateOutcome::Applied(o) => *o,
                other => panic!("fixture update {update:?} was not applied: {other:?}"),
            }
        }
    };
    let mut current = order.clone();
    if stage >= Stage::Validated {
        let pricing = crate::pricing::price_order(
            order.items(),
            &demo_catalog(),
            crate::pricing::DEFAULT_APPROVAL_THRESHOLD_CENTS,
        )
        .expect("fixture items are in the demo catalog");
        current = apply(OrderUpdate::transition(
            OrderStatus::Validated,
            &[OrderStatus::Received],
            vec![Change::Pricing(pricing)],
            now,
        ))
        .await;
    }
    if stage >= Stage::Reserved {
        let update = OrderUpdate::reserve(order.items(), now);
        let outcome = store
            .reserve(order.order_id(), order.items(), &update)
            .await
            .expect("reserve the fixture order");
        assert_eq!(outcome, ReserveOutcome::Reserved, "fixture reservation");
        current = store
            .get(order.order_id())
            .await
            .expect("read the fixture order")
            .expect("the fixture order exists");
    }
    if stage >= Stage::Paid {
        let total = current.pricing().map(|p| p.total).expect("priced");
        let payment = PaymentRecord {
            charge_id: format!("ch_{}", order.order_id()),
            amount: total,
            charged_at: now,
            refund: None,
        };
        current = apply(OrderUpdate::transition(
            OrderStatus::Paid,
            &[OrderStatus::Reserved],
            vec![Change::Payment(payment)],
            now,
        ))
        .await;
    }
    current
}
