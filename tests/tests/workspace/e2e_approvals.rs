//! Orders at or above the threshold: the mail, the console links, approve,
//! reject, time out, GET changes nothing, one decision whatever the
//! concurrency.

use std::time::Duration;

use saga_core::ApprovalId;
use saga_core::ports::ApprovalStore;

use super::{Local, spawn_local, spawn_local_with, statuses};

/// Post a big order and wait until it waits for a person.
async fn awaiting(local: &Local, quantity: u32) -> String {
    let id = local
        .post_order(&[("SKU-4", quantity)], "tok_visa", "10115")
        .await;
    local.await_status(&id, "AWAITING_APPROVAL").await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_order_completes_and_the_mail_and_console_carry_the_links_not_the_token() {
    let local = spawn_local().await;
    let id = awaiting(&local, 1).await;

    let mail = local.approval_mail(&id).await;
    let approval_id = local.approval_id(&id).await;
    let approve = format!("{}/approvals/{approval_id}?decision=approve", local.url());
    let reject = format!("{}/approvals/{approval_id}?decision=reject", local.url());
    assert!(mail.starts_with("Topic: approvals\n"), "{mail}");
    for expected in [
        id.as_str(),
        "SKU-4",
        "Dual-boiler espresso machine",
        "Total: 1490.00 EUR",
        &approve,
        &reject,
    ] {
        assert!(
            mail.contains(expected),
            "{expected:?} not in the mail:\n{mail}"
        );
    }
    // The console line follows the file.
    let console = local.await_console(&reject).await.join("\n");
    assert!(
        console.contains(&approve) && console.contains(&reject),
        "{console}"
    );
    let approval = ApprovalStore::get(
        local.server().store(),
        &ApprovalId::parse(&approval_id).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let token = approval.task_token.expose_secret();
    assert!(
        !mail.contains(token) && !console.contains(token),
        "the task token leaked"
    );

    // The link opens a confirmation page; the form POSTs the decision.
    let page = local
        .request(
            "GET",
            &format!("/approvals/{approval_id}?decision=approve"),
            &[],
            b"",
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("method=\"post\""), "{}", page.text());
    local.approve(&id).await;
    let order = local.await_status(&id, "COMPLETED").await;

    assert_eq!(
        statuses(&order),
        [
            "RECEIVED",
            "VALIDATED",
            "RESERVED",
            "AWAITING_APPROVAL",
            "APPROVED",
            "PAID",
            "COMPLETED"
        ]
    );
    assert_eq!(local.stock("SKU-4").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_order_ends_rejected_with_its_stock_back() {
    let local = spawn_local().await;
    let id = awaiting(&local, 2).await;
    assert_eq!(local.stock("SKU-4").await, 3, "reserved while waiting");

    let approval_id = local.approval_id(&id).await;
    let resp = local.decide(&approval_id, "reject").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let order = local.await_status(&id, "REJECTED").await;

    assert_eq!(order["failure"]["error"], "ApprovalRejected");
    assert_eq!(local.stock("SKU-4").await, 5);
    // Deciding again changes nothing.
    assert_eq!(local.decide(&approval_id, "approve").await.status, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_decision_within_the_timeout_rejects_the_order_and_the_link_expires() {
    let local = spawn_local_with(|c| c.approval_timeout_seconds = 2).await;
    let id = awaiting(&local, 1).await;
    let approval_id = local.approval_id(&id).await;

    let order = local.await_status(&id, "REJECTED").await;

    assert_eq!(order["failure"]["error"], "ApprovalTimedOut");
    assert_eq!(local.stock("SKU-4").await, 5);
    let page = local
        .request("GET", &format!("/approvals/{approval_id}"), &[], b"")
        .await;
    assert_eq!(page.status, 410, "{}", page.text());
    assert_eq!(local.decide(&approval_id, "approve").await.status, 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_jpy_threshold_a_small_eur_order_waits_for_a_person() {
    // 19.99 EUR is 1999 minor units, far below 100000, but euros are not yen.
    let local = spawn_local_with(|c| {
        c.approval_threshold = saga_core::Money::new(100_000, "JPY".parse().unwrap());
    })
    .await;

    let id = local.post_order(&[("SKU-1", 1)], "tok_visa", "10115").await;

    let order = local.await_status(&id, "AWAITING_APPROVAL").await;
    assert_eq!(order["currency"], "EUR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_an_approval_link_changes_nothing() {
    let local = spawn_local().await;
    let id = awaiting(&local, 1).await;
    let approval_id = local.approval_id(&id).await;

    // What a mail scanner does: fetch both links, repeatedly.
    for decision in ["approve", "reject", "approve"] {
        let page = local
            .request(
                "GET",
                &format!("/approvals/{approval_id}?decision={decision}"),
                &[],
                b"",
            )
            .await;
        assert_eq!(page.status, 200);
        let head = local
            .request(
                "HEAD",
                &format!("/approvals/{approval_id}?decision={decision}"),
                &[],
                b"",
            )
            .await;
        assert_eq!(head.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let order = local.order(&id).await;
    assert_eq!(order["status"], "AWAITING_APPROVAL");
    let approval = ApprovalStore::get(
        local.server().store(),
        &ApprovalId::parse(&approval_id).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(approval.status.as_str(), "PENDING");
    // It can still be decided.
    local.approve(&id).await;
    local.await_status(&id, "COMPLETED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_and_a_rejection_at_once_one_wins_the_other_is_409() {
    let local = spawn_local().await;
    let id = awaiting(&local, 1).await;
    let approval_id = local.approval_id(&id).await;

    let (a, b) = local.race(&approval_id, "approve", "reject").await;

    let mut codes = [a.status, b.status];
    codes.sort_unstable();
    assert_eq!(codes, [200, 409], "{} / {}", a.text(), b.text());
    let winner = if a.status == 200 {
        "COMPLETED"
    } else {
        "REJECTED"
    };
    let order = local.await_end(&id).await;
    assert_eq!(order["status"], winner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_approvals_one_is_200_the_other_409() {
    let local = spawn_local().await;
    let id = awaiting(&local, 1).await;
    let approval_id = local.approval_id(&id).await;

    let (a, b) = local.race(&approval_id, "approve", "approve").await;

    let mut codes = [a.status, b.status];
    codes.sort_unstable();
    assert_eq!(codes, [200, 409], "{} / {}", a.text(), b.text());
    local.await_status(&id, "COMPLETED").await;
    assert_eq!(local.stock("SKU-4").await, 4);
}
