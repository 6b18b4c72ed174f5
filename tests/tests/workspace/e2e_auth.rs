//! `saga-local serve --auth-hs256-secret`: the order routes behind a local
//! JWT authorizer, over real HTTP. What API Gateway's authorizer refuses is
//! `401` before the handler runs; what it accepts reaches the handler with the
//! claims, and the handler makes the `sub` claim the customer.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use saga_local::serve::auth::AuthConfig;
use serde_json::{Value, json};

use super::{Local, spawn_local_with};

const SECRET: &str = "e2e-secret-0123456789abcdef";

/// A server whose order routes need an HS256 token signed with [`SECRET`].
async fn spawn_authorized() -> (tempfile::TempDir, Local) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("jwt-secret");
    std::fs::write(&file, format!("{SECRET}\n")).expect("write the secret");
    let local = spawn_local_with(|c| {
        c.auth = Some(AuthConfig {
            hs256_secret_file: file,
            issuer: None,
            audience: vec![],
        });
    })
    .await;
    (dir, local)
}

fn now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since_epoch.as_secs()).expect("seconds fit")
}

fn token_with(claims: &Value, secret: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).expect("sign")
}

/// `Bearer <token>` for `sub`, valid for five minutes.
fn bearer(sub: &str) -> String {
    let t = token_with(&json!({"sub": sub, "exp": now() + 300}), SECRET);
    format!("Bearer {t}")
}

fn order_for(customer: &str) -> Value {
    let mut body = saga_core::fixtures::order_body(&[("SKU-1", 1)], "tok_visa", "10115");
    body["customerId"] = json!(customer);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_valid_token_the_order_routes_are_401() {
    let (_secret, local) = spawn_authorized().await;
    let forged = format!(
        "Bearer {}",
        token_with(&json!({"sub": "c-1", "exp": now() + 300}), "not-the-secret")
    );
    let expired = format!(
        "Bearer {}",
        token_with(&json!({"sub": "c-1", "exp": now() - 5}), SECRET)
    );
    for (what, auth) in [
        ("no token", None),
        ("bad signature", Some(&forged)),
        ("expired", Some(&expired)),
    ] {
        let headers: Vec<(&str, &str)> = auth
            .map(|a| ("authorization", a.as_str()))
            .into_iter()
            .collect();
        let resp = local.post_json(&order_for("c-1"), &headers).await;
        assert_eq!(resp.status, 401, "{what}: {}", resp.text());
        assert_eq!(resp.json(), json!({"message": "Unauthorized"}), "{what}");
        let challenge = resp
            .header("www-authenticate")
            .unwrap_or_default()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{what}: {challenge:?}");
        let get = local
            .request("GET", "/orders/01KD0000000000000000000000", &headers, b"")
            .await;
        assert_eq!(get.status, 401, "{what}");
    }
    local.assert_empty(&["orders", "executions", "idempotency"]);
    // The approval routes are not behind the authorizer: their link is the capability.
    let approval = local
        .request(
            "GET",
            "/approvals/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &[],
            b"",
        )
        .await;
    assert_eq!(approval.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_valid_token_the_customer_is_the_sub_claim() {
    let (_secret, local) = spawn_authorized().await;
    let alice = bearer("alice");
    let bob = bearer("bob");

    let resp = local
        .post_json(&order_for("alice"), &[("authorization", &alice)])
        .await;
    assert_eq!(resp.status, 202, "{}", resp.text());
    let id = resp.json()["orderId"].as_str().unwrap().to_owned();
    let path = format!("/orders/{id}");
    let own = local
        .request("GET", &path, &[("authorization", &alice)], b"")
        .await;
    assert_eq!(own.status, 200);
    assert_eq!(own.json()["customerId"], "alice");

    // Another customer's order is as absent as one that doesn't exist.
    let theirs = local
        .request("GET", &path, &[("authorization", &bob)], b"")
        .await;
    assert_eq!(theirs.status, 404, "{}", theirs.text());

    // An order in someone else's name is 403 and stores nothing.
    let before = local.rows("orders");
    let forged = local
        .post_json(&order_for("alice"), &[("authorization", &bob)])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert_eq!(local.rows("orders"), before);

    // The saga runs for the authenticated customer as for anyone.
    let started = std::time::Instant::now();
    loop {
        let order = local
            .request("GET", &path, &[("authorization", &alice)], b"")
            .await
            .json();
        if order["status"] == "COMPLETED" {
            break;
        }
        assert!(
            started.elapsed() < super::DEADLINE,
            "not COMPLETED: {order}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_from_two_customers_is_two_orders() {
    let (_secret, local) = spawn_authorized().await;
    let mut ids = Vec::new();
    for sub in ["alice", "bob", "alice"] {
        let auth = bearer(sub);
        let headers = [
            ("authorization", auth.as_str()),
            ("idempotency-key", "order-1"),
        ];
        let resp = local.post_json(&order_for(sub), &headers).await;
        assert_eq!(resp.status, 202, "{sub}: {}", resp.text());
        ids.push(resp.json()["orderId"].as_str().unwrap().to_owned());
    }
    assert_ne!(ids[0], ids[1], "bob got alice's order");
    assert_eq!(ids[0], ids[2], "alice's replay is her order");
    assert_eq!(local.rows("orders"), 2);
    assert_eq!(local.rows("idempotency"), 2);
}
