//! The `api-handler` binary for real: started the way Lambda starts it, fed API
//! Gateway HTTP API events, talking to DynamoDB and Step Functions at moto.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use saga_apigw::http::Method;
use saga_aws::{TableName, schema};
use saga_core::fixtures::order_body;
use saga_tests::fake_runtime::{FakeRuntime, Outcome};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn event(method: Method, target: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Value {
    serde_json::to_value(saga_apigw::event(method, target, headers, body)).unwrap()
}

fn http(out: Option<Outcome>) -> (i64, Value, Value) {
    let Some(Outcome::Response(resp)) = out else {
        panic!("expected an HTTP response, got {out:?}")
    };
    let body = resp["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (
        resp["statusCode"].as_i64().unwrap_or_default(),
        resp["headers"].clone(),
        body,
    )
}

#[tokio::test]
async fn the_binary_accepts_orders_starts_the_saga_and_serves_them_back() {
    saga_tests::moto_endpoint();
    let sdk = saga_aws::load_sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let id = std::process::id();
    let (orders, idempotency) = (
        format!("rt-api-{id}-orders"),
        format!("rt-api-{id}-idempotency"),
    );
    schema::create_table(&ddb, schema::schema(TableName::Orders), &orders)
        .await
        .unwrap();
    schema::create_table(&ddb, schema::schema(TableName::Idempotency), &idempotency)
        .await
        .unwrap();
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let machine = sfn
        .create_state_machine()
        .name(format!("rt-api-{id}"))
        .role_arn("arn:aws:iam::123456789012:role/order-saga")
        .definition(r#"{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}"#)
        .send()
        .await
        .unwrap();

    let runtime = FakeRuntime::start().await.unwrap();
    let _function = saga_tests::process::start_function(
        &saga_tests::process::function_binary("api-handler", env!("CARGO_BIN_EXE_api-handler")),
        "api-handler",
        &runtime,
        &[
            ("ORDERS_TABLE", &orders),
            ("IDEMPOTENCY_TABLE", &idempotency),
            ("STATE_MACHINE_ARN", machine.state_machine_arn()),
            ("PUBLIC_BASE_URL", "https://api.example.com"),
        ],
    )
    .unwrap();

    // POST /orders → 202, Location, and an execution named by the order id.
    let body = order_body(&[("SKU-1", 2)], "tok_visa", "10115").to_string();
    let post = event(
        Method::POST,
        "/orders",
        &[
            ("content-type", "application/json"),
            ("idempotency-key", "rt-1"),
        ],
        Some(body.as_bytes()),
    );
    let (status, headers, created) = http(runtime.invoke(post.clone(), WAIT).await);
    assert_eq!(status, 202, "{created}");
    let order_id = created["orderId"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"],
        format!("https://api.example.com/orders/{order_id}")
    );
    let executions = sfn
        .list_executions()
        .state_machine_arn(machine.state_machine_arn())
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = executions.executions().iter().map(|e| e.name()).collect();
    assert_eq!(names, vec![order_id.as_str()]);

    // The replay is the same order and no second execution.
    let (status, _, replayed) = http(runtime.invoke(post, WAIT).await);
    assert_eq!(
        (status, replayed["orderId"].as_str()),
        (202, Some(order_id.as_str()))
    );
    let executions = sfn
        .list_executions()
        .state_machine_arn(machine.state_machine_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1);

    // GET reads the orders table.
    let (status, _, order) = http(
        runtime
            .invoke(
                event(Method::GET, &format!("/orders/{order_id}"), &[], None),
                WAIT,
            )
            .await,
    );
    assert_eq!((status, order["status"].as_str()), (200, Some("RECEIVED")));

    // Client errors are HTTP answers, not function errors.
    let (status, _, error) = http(
        runtime
            .invoke(
                event(
                    Method::POST,
                    "/orders",
                    &[("content-type", "application/json")],
                    Some(b"{}"),
                ),
                WAIT,
            )
            .await,
    );
    assert_eq!(status, 400);
    assert_eq!(error["details"][0]["field"], "customerId");

    // An event that isn't an API Gateway event is a function error; the function keeps serving.
    let out = runtime.invoke(json!("not an event"), WAIT).await;
    let Some(Outcome::Error(error)) = out else {
        panic!("expected a function error, got {out:?}")
    };
    assert!(
        error["errorType"].as_str().is_some_and(|t| !t.is_empty()),
        "{error}"
    );
    let (status, _, _) = http(
        runtime
            .invoke(event(Method::GET, "/nowhere", &[], None), WAIT)
            .await,
    );
    assert_eq!(status, 404);
}

#[tokio::test]
async fn without_the_state_machine_arn_the_binary_stops_and_says_so() {
    let runtime = FakeRuntime::start().await.unwrap();
    let mut function = saga_tests::process::start_function(
        &saga_tests::process::function_binary("api-handler", env!("CARGO_BIN_EXE_api-handler")),
        "api-handler",
        &runtime,
        &[
            ("ORDERS_TABLE", "orders"),
            ("IDEMPOTENCY_TABLE", "idempotency"),
        ],
    )
    .unwrap();
    assert!(!function.0.wait().unwrap().success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(function.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("STATE_MACHINE_ARN"), "{stderr}");
}
