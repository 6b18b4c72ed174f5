//! Who waits for which order to change: `saga-local serve` answers
//! `GET /orders/{id}?wait=…` when the order moves instead of having the
//! client poll. Each change of an order committed through this store wakes
//! the waiters of that order only (waiters of other orders are not woken).
//!
//! An entry lives as long as someone waits on it: the map holds weak
//! references, pruned when the map has doubled since the last pruning.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use saga_core::ports::StoreError;
use tokio::sync::Notify;

/// Entries before the first pruning of dead ones.
const FIRST_PRUNE: usize = 256;

#[derive(Debug)]
pub(crate) struct OrderWatch {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    waiting: HashMap<String, Weak<Notify>>,
    prune_at: usize,
}

impl Default for OrderWatch {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                waiting: HashMap::new(),
                prune_at: FIRST_PRUNE,
            }),
        }
    }
}

impl OrderWatch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What order `id`'s changes notify (shared by everyone waiting on it).
    pub(crate) fn subscribe(&self, id: &str) -> Arc<Notify> {
        let mut inner = self.lock();
        if let Some(notify) = inner.waiting.get(id).and_then(Weak::upgrade) {
            return notify;
        }
        if inner.waiting.len() >= inner.prune_at {
            inner.waiting.retain(|_, w| w.strong_count() > 0);
            inner.prune_at = (inner.waiting.len() * 2).max(FIRST_PRUNE);
        }
        let notify = Arc::new(Notify::new());
        inner.waiting.insert(id.to_owned(), Arc::downgrade(&notify));
        notify
    }

    /// Order `id` changed (committed): wake whoever waits on it.
    pub(crate) fn changed(&self, id: &str) {
        let mut inner = self.lock();
        match inner.waiting.get(id).map(Weak::upgrade) {
            Some(Some(notify)) => notify.notify_waiters(),
            Some(None) => {
                inner.waiting.remove(id);
            }
            None => {}
        }
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> usize {
        self.lock().waiting.len()
    }
}

impl crate::SqliteStore {
    /// The status of order `id` as last committed (its `status` column: no
    /// document to parse), `None` when there is no such order. A waiter
    /// checks it after each change and reads the whole order only once it
    /// has settled.
    pub fn order_status(&self, id: &saga_core::OrderId) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            crate::query_opt(
                c,
                "orders.status",
                "SELECT status FROM orders WHERE order_id = ?1",
                rusqlite::params![id.as_str()],
                |r| r.get(0),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    #[tokio::test]
    async fn a_change_wakes_the_waiters_of_that_order_only() {
        let watch = OrderWatch::default();
        let a = watch.subscribe("a");
        let b = watch.subscribe("b");
        let (wait_a, wait_b) = (a.notified(), b.notified());
        tokio::pin!(wait_a, wait_b);
        wait_a.as_mut().enable();
        wait_b.as_mut().enable();

        watch.changed("a");

        tokio::time::timeout(std::time::Duration::from_secs(5), wait_a)
            .await
            .unwrap();
        let b_woken = futures_poll(wait_b.as_mut());
        assert!(!b_woken, "a change of a woke the waiter of b");
    }

    #[test]
    fn entries_of_gone_waiters_are_dropped() {
        let watch = OrderWatch::default();
        drop(watch.subscribe("a"));
        watch.changed("a");
        assert_eq!(watch.entries(), 0, "removed at its next change");
        for i in 0..FIRST_PRUNE * 3 {
            drop(watch.subscribe(&i.to_string()));
        }
        assert!(
            watch.entries() <= FIRST_PRUNE + 1,
            "pruned as they pile up: {}",
            watch.entries()
        );
        let kept = watch.subscribe("kept");
        assert!(Arc::ptr_eq(&kept, &watch.subscribe("kept")), "shared");
    }

    /// Whether `f` is ready now (polled once, without waiting).
    fn futures_poll<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> bool {
        let waker = std::task::Waker::noop();
        f.poll(&mut std::task::Context::from_waker(waker))
            .is_ready()
    }
}
