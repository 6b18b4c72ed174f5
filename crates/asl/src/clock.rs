//! Time, injected: a real clock for servers and a manual (virtual) clock for
//! tests and `saga-local exec`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// A boxed, sendable future that completes at a point in time.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The engine's notion of time. Waits, retry intervals and timeouts all go
/// through it, as absolute wall-clock deadlines (so a deadline saved in a
/// snapshot means the same thing after a restart).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// A future that completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep;
}

/// Real time: `chrono::Utc::now()` and tokio timers. Needs a tokio runtime
/// with the time driver enabled.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        Box::pin(async move {
            // Re-check after waking: the system clock may have moved.
            loop {
                let left = (deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left).await;
            }
        })
    }
}

/// Virtual time that only moves when told to.
///
/// Tests call [`ManualClock::advance`]; [`ManualClock::run`] drives a
/// future and jumps to the next deadline whenever that future is waiting on
/// nothing but this clock's timers (what `saga-local exec` does).
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualInner>>,
}

#[derive(Debug)]
struct ManualInner {
    now: DateTime<Utc>,
    next_id: u64,
    sleepers: BTreeMap<(DateTime<Utc>, u64), Option<Waker>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new(DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(19_723))
    }
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            inner: Arc::new(Mutex::new(ManualInner {
                now: start,
                next_id: 0,
                sleepers: BTreeMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ManualInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Move time forward and wake every timer that is now due.
    pub fn advance(&self, by: Duration) {
        let delta = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        let target = {
            let g = self.lock();
            g.now.checked_add_signed(delta).unwrap_or(g.now)
        };
        self.set(target);
    }

    /// Set the time (never backwards) and wake due timers.
    pub fn set(&self, to: DateTime<Utc>) {
        let wakers: Vec<Waker> = {
            let mut g = self.lock();
            if to > g.now {
                g.now = to;
            }
            let now = g.now;
            g.sleepers
                .iter_mut()
                .filter(|((d, _), _)| *d <= now)
                .filter_map(|(_, w)| w.take())
                .collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The earliest pending deadline, if any timer is waiting.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.lock().sleepers.keys().next().map(|(d, _)| *d)
    }

    /// Number of timers currently waiting.
    pub fn pending_timers(&self) -> usize {
        self.lock().sleepers.len()
    }

    /// Jump to the earliest pending deadline; false when no timer waits.
    pub fn advance_to_next(&self) -> bool {
        match self.next_deadline() {
            Some(d) => {
                self.set(d);
                true
            }
            None => false,
        }
    }

    /// Drive `fut` to completion, advancing virtual time to the next timer
    /// whenever `fut` cannot make progress otherwise. Everything except this
    /// clock's timers must complete without outside help (mocked tasks);
    /// if `fut` waits on something else it simply waits for it.
    pub async fn run<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = pin!(fut);
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(false),
            outer: Mutex::new(None),
        });
        let waker = Waker::from(flag.clone());
        poll_fn(move |cx| {
            if let Ok(mut o) = flag.outer.lock() {
                *o = Some(cx.waker().clone());
            }
            let mut inner = Context::from_waker(&waker);
            for _ in 0..10_000 {
                flag.woken.store(false, Ordering::SeqCst);
                if let Poll::Ready(v) = fut.as_mut().poll(&mut inner) {
                    return Poll::Ready(v);
                }
                if flag.woken.load(Ordering::SeqCst) {
                    continue;
                }
                if !self.advance_to_next() {
                    return Poll::Pending;
                }
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }
}

struct Flag {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if let Ok(o) = self.outer.lock()
            && let Some(w) = o.as_ref()
        {
            w.wake_by_ref();
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.lock().now
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let id = {
            let mut g = self.lock();
            g.next_id += 1;
            g.next_id
        };
        Box::pin(ManualSleep {
            clock: self.clone(),
            key: (deadline, id),
            registered: false,
        })
    }
}

struct ManualSleep {
    clock: ManualClock,
    key: (DateTime<Utc>, u64),
    registered: bool,
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let key = self.key;
        let mut g = self.clock.lock();
        if g.now >= key.0 {
            g.sleepers.remove(&key);
            drop(g);
            self.registered = false;
            return Poll::Ready(());
        }
        g.sleepers.insert(key, Some(cx.waker().clone()));
        drop(g);
        self.registered = true;
        Poll::Pending
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        if self.registered {
            self.clock.lock().sleepers.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleep_completes_after_advance() {
        let clock = ManualClock::default();
        let start = clock.now();
        let c2 = clock.clone();
        let handle = tokio::spawn(async move {
            c2.sleep_until(start + TimeDelta::seconds(10)).await;
            c2.now()
        });
        tokio::task::yield_now().await;
        while clock.pending_timers() == 0 {
            tokio::task::yield_now().await;
        }
        clock.advance(Duration::from_secs(5));
        assert_eq!(clock.pending_timers(), 1);
        clock.advance(Duration::from_secs(5));
        let woke_at = handle.await.ok();
        assert_eq!(woke_at, Some(start + TimeDelta::seconds(10)));
    }

    #[tokio::test]
    async fn run_auto_advances_through_timers() {
        let clock = ManualClock::default();
        let start = clock.now();
        let c2 = clock.clone();
        let end = clock
            .run(async move {
                c2.sleep_until(start + TimeDelta::hours(24)).await;
                c2.sleep_until(start + TimeDelta::hours(25)).await;
                c2.now()
            })
            .await;
        assert_eq!(end, start + TimeDelta::hours(25));
    }
}
