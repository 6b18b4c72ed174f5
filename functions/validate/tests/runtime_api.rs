//! The `validate` binary for real: started the way Lambda starts it (a Runtime
//! API, only Lambda's and Terraform's environment variables), talking to
//! DynamoDB at moto. Proves `main.rs`: configuration, AWS clients, the runtime
//! loop, the success payload and the `errorType` of failures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use saga_aws::{DynamoStore, TableName, Tables, schema};
use saga_core::fixtures::{demo_catalog, received_order};
use saga_core::ports::{CatalogAdmin, OrderStore};
use saga_core::{Clock, OrderId, OrderStatus, SystemClock};
use saga_tests::fake_runtime::{FakeRuntime, Outcome};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_binary_prices_orders_and_reports_failures_by_their_stable_name() {
    saga_tests::moto_endpoint();
    let sdk = saga_aws::load_sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let (orders, products) = (
        format!("rt-validate-{}-orders", std::process::id()),
        format!("rt-validate-{}-products", std::process::id()),
    );
    schema::create_table(&client, schema::schema(TableName::Orders), &orders)
        .await
        .unwrap();
    schema::create_table(&client, schema::schema(TableName::Products), &products)
        .await
        .unwrap();
    let store = DynamoStore::from_client(
        client,
        Tables::new()
            .with(TableName::Orders, orders.clone())
            .with(TableName::Products, products.clone()),
    );
    for p in demo_catalog() {
        store.upsert_product(&p).await.unwrap();
    }
    let order = received_order(
        &[("SKU-1", 2), ("SKU-4", 1)],
        "tok_visa",
        "10115",
        SystemClock.now(),
    );
    store.insert(&order).await.unwrap();

    let runtime = FakeRuntime::start().await.unwrap();
    let _function = saga_tests::process::start_function(
        &saga_tests::process::function_binary("validate", env!("CARGO_BIN_EXE_validate")),
        "validate",
        &runtime,
        &[
            ("ORDERS_TABLE", &orders),
            ("PRODUCTS_TABLE", &products),
            ("APPROVAL_THRESHOLD_CENTS", "100000"),
        ],
    )
    .unwrap();

    // Success: the payload the state machine's ResultSelector reads.
    let out = runtime
        .invoke(json!({"orderId": order.order_id()}), WAIT)
        .await
        .expect("no answer from validate");
    let Outcome::Response(payload) = out else {
        panic!("expected a response, got {out:?}")
    };
    assert_eq!(payload["totalCents"], 2 * 1_999 + 149_000);
    assert_eq!(payload["currency"], "EUR");
    assert_eq!(payload["requiresApproval"], true);
    assert_eq!(
        payload["lines"][1],
        json!({"sku": "SKU-4", "quantity": 1, "unitPriceCents": 149_000})
    );
    assert_eq!(
        store.get(order.order_id()).await.unwrap().unwrap().status(),
        OrderStatus::Validated
    );

    // A business failure: errorType is the stable name the ASL catches.
    let unknown = OrderId::generate(SystemClock.now());
    let out = runtime
        .invoke(json!({"orderId": unknown}), WAIT)
        .await
        .expect("no answer from validate");
    let Outcome::Error(error) = out else {
        panic!("expected an error, got {out:?}")
    };
    assert_eq!(error["errorType"], "ValidationError");
    assert_eq!(error["errorMessage"], format!("order {unknown} not found"));

    // A payload that isn't an Input: reported, and the function keeps serving.
    let out = runtime
        .invoke(json!({"orderId": 42}), WAIT)
        .await
        .expect("no answer from validate");
    let Outcome::Error(error) = out else {
        panic!("expected an error, got {out:?}")
    };
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("orderId"),
        "{error}"
    );
    let again = runtime
        .invoke(json!({"orderId": order.order_id()}), WAIT)
        .await;
    assert!(matches!(again, Some(Outcome::Response(_))), "{again:?}");
}

#[tokio::test]
async fn missing_configuration_stops_the_binary_with_a_message_naming_it() {
    let runtime = FakeRuntime::start().await.unwrap();
    let mut function = saga_tests::process::start_function(
        &saga_tests::process::function_binary("validate", env!("CARGO_BIN_EXE_validate")),
        "validate",
        &runtime,
        &[],
    )
    .unwrap();
    let status = function.0.wait().unwrap();
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(function.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("ORDERS_TABLE"), "{stderr}");
}
