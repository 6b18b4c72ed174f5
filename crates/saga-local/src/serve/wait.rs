//! `GET /orders/{orderId}?wait=<seconds>`: a saga-local extension (API
//! Gateway and the AWS deployment have no such parameter). While the order is
//! in a status the saga leaves by itself (`RECEIVED`, `VALIDATED`,
//! `RESERVED`, `APPROVED`, `PAID`), the answer waits, up to `wait` seconds
//! (at most [`MAX_WAIT`]), and comes as soon as the order reaches any other
//! status (`COMPLETED`, `FAILED`, `REJECTED`, `AWAITING_APPROVAL`,
//! `NEEDS_ATTENTION`): one request instead of a polling loop, and it answers
//! the moment the order settles. When the time is up the order is answered
//! as it is. The answer is always what `GET /orders/{orderId}` answers at
//! that moment (the api-handler's own response); `wait=0` or no `wait` does
//! not wait.
//!
//! The waiting costs nothing while the order does not change: it is woken by
//! the store's commit of a change of that order
//! ([`SqliteStore::order_changes`]). A wake reads the order's status alone
//! ([`SqliteStore::order_status`], no document to parse); only a status that
//! is no longer moving (or the deadline, after a change) builds the answer
//! again: an order passes four moving statuses on its way, and each full
//! answer loads, parses and serializes the whole order.

use std::future::Future;
use std::time::Duration;

use saga_core::OrderId;
use saga_sqlite::SqliteStore;
use serde::Deserialize;

/// The longest `wait` (below the 30 s many HTTP clients time out at).
pub const MAX_WAIT: Duration = Duration::from_secs(20);

/// Statuses the saga leaves by itself: an answer waits past them.
const MOVING: [&str; 5] = ["RECEIVED", "VALIDATED", "RESERVED", "APPROVED", "PAID"];

/// What a request asks about waiting.
#[derive(Debug, PartialEq)]
pub(crate) enum Wait {
    /// Answer right away (not a `GET /orders/{id}`, no or zero `wait`, or
    /// an id the handler will refuse itself).
    No,
    /// Wait up to this long for the order to settle.
    For(OrderId, Duration),
    /// A `wait` that is not a number of seconds from 0 to [`MAX_WAIT`].
    Invalid(String),
}

/// The `wait` of a `GET /orders/{orderId}` event.
pub(crate) fn requested(event: &saga_apigw::Request) -> Wait {
    if saga_apigw::method(event) != saga_apigw::http::Method::GET {
        return Wait::No;
    }
    let Some(id) = saga_apigw::path(event).strip_prefix("/orders/") else {
        return Wait::No;
    };
    let Some(raw) = saga_apigw::query(event, "wait") else {
        return Wait::No;
    };
    let max = MAX_WAIT.as_secs_f64();
    let seconds = match raw.trim().parse::<f64>() {
        Ok(s) if (0.0..=max).contains(&s) => s,
        _ => {
            return Wait::Invalid(format!(
                "wait must be a number of seconds from 0 to {max} (got {raw:?})"
            ));
        }
    };
    match OrderId::parse(id) {
        Ok(id) if seconds > 0.0 => Wait::For(id, Duration::from_secs_f64(seconds)),
        _ => Wait::No,
    }
}

/// The 400 answer to an invalid `wait`, shaped like the api-handler's.
pub(crate) fn invalid(message: &str) -> saga_apigw::Response {
    saga_apigw::json_response(400, &serde_json::json!({ "error": message }))
}

/// Whether `resp` shows an order the saga is still moving by itself.
fn still_moving(resp: &saga_apigw::Response) -> bool {
    #[derive(Deserialize)]
    struct Status {
        status: Option<String>,
    }
    resp.status_code == 200
        && serde_json::from_slice::<Status>(&saga_apigw::response_body(resp))
            .ok()
            .and_then(|s| s.status)
            .is_some_and(|s| MOVING.contains(&s.as_str()))
}

/// `respond()` (a `GET /orders/{id}`) until the order has settled or `wait`
/// has passed; its last answer (read again at the deadline if the order
/// changed since).
pub(crate) async fn settled<F: Future<Output = saga_apigw::Response>>(
    store: &SqliteStore,
    id: &OrderId,
    wait: Duration,
    mut respond: impl FnMut() -> F,
) -> saga_apigw::Response {
    let deadline = tokio::time::Instant::now() + wait;
    let changes = store.order_changes(id);
    // The last answer, and whether the order changed after it.
    let mut last: Option<saga_apigw::Response> = None;
    loop {
        // Listening before reading: a change committed in between wakes it.
        let changed = changes.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let answer = match last.take() {
            Some(resp) if status_moving(store, id) => Stale(resp),
            _ => {
                let resp = respond().await;
                if !still_moving(&resp) {
                    return resp;
                }
                Current(resp)
            }
        };
        tokio::select! {
            () = changed => last = Some(answer.into_inner()),
            () = tokio::time::sleep_until(deadline) => return match answer {
                Current(resp) => resp,
                Stale(_) => respond().await,
            },
        }
    }
}

/// An answer as the order is now, or one it has moved past since.
enum Answer {
    Current(saga_apigw::Response),
    Stale(saga_apigw::Response),
}
use Answer::{Current, Stale};

impl Answer {
    fn into_inner(self) -> saga_apigw::Response {
        match self {
            Current(resp) | Stale(resp) => resp,
        }
    }
}

/// Whether the stored status of order `id` is one the saga leaves by
/// itself. Anything else (settled, gone, unreadable) is for the full answer
/// to tell.
fn status_moving(store: &SqliteStore, id: &OrderId) -> bool {
    matches!(store.order_status(id), Ok(Some(s)) if MOVING.contains(&s.as_str()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    const ID: &str = "01KD0000000000000000000000";

    fn get(target: &str) -> saga_apigw::Request {
        saga_apigw::event(saga_apigw::http::Method::GET, target, &[], None)
    }

    #[test]
    fn only_a_get_of_one_order_with_a_positive_wait_waits() {
        let id = OrderId::parse(ID).unwrap();
        assert_eq!(
            requested(&get(&format!("/orders/{ID}?wait=2.5"))),
            Wait::For(id, Duration::from_millis(2500))
        );
        assert_eq!(requested(&get(&format!("/orders/{ID}"))), Wait::No);
        assert_eq!(requested(&get(&format!("/orders/{ID}?wait=0"))), Wait::No);
        assert_eq!(requested(&get("/orders/not-an-id?wait=1")), Wait::No);
        assert_eq!(requested(&get("/orders?wait=1")), Wait::No);
        let post = saga_apigw::event(
            saga_apigw::http::Method::POST,
            &format!("/orders/{ID}?wait=1"),
            &[],
            None,
        );
        assert_eq!(requested(&post), Wait::No);
        for bad in ["21", "-1", "soon", "NaN", "inf"] {
            let target = format!("/orders/{ID}?wait={bad}");
            assert!(
                matches!(requested(&get(&target)), Wait::Invalid(_)),
                "{bad}"
            );
        }
    }

    fn order(status: &str) -> saga_apigw::Response {
        saga_apigw::json_response(200, &serde_json::json!({"orderId": ID, "status": status}))
    }

    #[test]
    fn moving_statuses_wait_settled_ones_and_errors_do_not() {
        for s in MOVING {
            assert!(still_moving(&order(s)), "{s}");
        }
        for s in [
            "COMPLETED",
            "FAILED",
            "REJECTED",
            "AWAITING_APPROVAL",
            "NEEDS_ATTENTION",
        ] {
            assert!(!still_moving(&order(s)), "{s}");
        }
        let not_found = saga_apigw::json_response(404, &serde_json::json!({"error": "x"}));
        assert!(!still_moving(&not_found));
    }

    /// A stored order in `RECEIVED`, and a `respond` reading its status
    /// from the store that counts its calls.
    async fn stored_order(
        store: &SqliteStore,
    ) -> (OrderId, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use saga_core::ports::OrderStore;
        let now = saga_core::Clock::now(&saga_core::ManualClock::at_fixed_start());
        let order = saga_core::fixtures::received_order(&[("SKU-1", 1)], "tok_visa", "10115", now);
        store.insert(&order).await.unwrap();
        (order.order_id().clone(), std::sync::Arc::default())
    }

    fn respond_from<'a>(
        store: &'a SqliteStore,
        id: &'a OrderId,
        reads: &'a std::sync::atomic::AtomicUsize,
    ) -> impl FnMut() -> std::future::Ready<saga_apigw::Response> + 'a {
        move || {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let status = store.order_status(id).unwrap().unwrap();
            std::future::ready(order(&status))
        }
    }

    async fn move_to(store: &SqliteStore, id: &OrderId, to: saga_core::order::OrderStatus) {
        use saga_core::order::{OrderStatus, OrderUpdate};
        use saga_core::ports::OrderStore;
        let now = saga_core::Clock::now(&saga_core::ManualClock::at_fixed_start());
        let u = OrderUpdate::transition(to, &OrderStatus::ALL, vec![], now);
        store.update(id, &u).await.unwrap();
    }

    /// A store in `dir` with an order in `RECEIVED`, and a task waiting up
    /// to `wait` for it to settle, past its first read already.
    async fn waiting(
        dir: &std::path::Path,
        wait: Duration,
    ) -> (
        SqliteStore,
        OrderId,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
        tokio::task::JoinHandle<saga_apigw::Response>,
    ) {
        let store = SqliteStore::open(&dir.join("saga.db")).unwrap();
        let (id, reads) = stored_order(&store).await;
        let waiter = {
            let (store, id, reads) = (store.clone(), id.clone(), reads.clone());
            tokio::spawn(async move {
                settled(&store, &id, wait, respond_from(&store, &id, &reads)).await
            })
        };
        while reads.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (store, id, reads, waiter)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wait_answers_the_settled_order_reading_it_whole_only_then() {
        use saga_core::order::OrderStatus;
        let dir = tempfile::tempdir().unwrap();
        let (store, id, reads, waiter) = waiting(dir.path(), Duration::from_secs(10)).await;
        for status in [
            OrderStatus::Validated,
            OrderStatus::Reserved,
            OrderStatus::Failed,
        ] {
            move_to(&store, &id, status).await;
        }
        let resp = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();

        assert!(!still_moving(&resp));
        let body: serde_json::Value =
            serde_json::from_slice(&saga_apigw::response_body(&resp)).unwrap();
        assert_eq!(body["status"], "FAILED");
        assert_eq!(
            reads.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "read whole at the start and once settled, not at each move"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wait_that_ends_after_a_move_answers_the_order_as_it_is_then() {
        use saga_core::order::OrderStatus;
        let dir = tempfile::tempdir().unwrap();
        let (store, id, _, waiter) = waiting(dir.path(), Duration::from_millis(500)).await;
        move_to(&store, &id, OrderStatus::Validated).await;
        let resp = waiter.await.unwrap();

        let body: serde_json::Value =
            serde_json::from_slice(&saga_apigw::response_body(&resp)).unwrap();
        assert_eq!(
            body["status"], "VALIDATED",
            "not the RECEIVED of the first read"
        );
    }

    #[tokio::test]
    async fn a_wait_ends_at_its_deadline_with_the_order_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("saga.db")).unwrap();
        let id = OrderId::parse(ID).unwrap();
        let mut reads = 0;
        let start = tokio::time::Instant::now();
        let resp = settled(&store, &id, Duration::from_millis(200), || {
            reads += 1;
            std::future::ready(order("PAID"))
        })
        .await;
        assert!(still_moving(&resp));
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert_eq!(reads, 1, "nothing changed: read once");
    }
}
