//! Test support for the step crates (feature `testing`, which their
//! `dev-dependencies` turn on): a [`World`] of in-memory ports to run a step
//! in, and the check that every error a step can return reports its stable
//! name ([`assert_error_names!`]).

use std::collections::BTreeSet;
use std::fmt::{self, Debug};
use std::future::Future;
use std::sync::Arc;

use crate::fixtures::{self, Stage, demo_catalog};
use crate::memory::MemoryStore;
use crate::ports::StoreError;
use crate::{Clock, ErrorName, ManualClock, OrderId};

/// A step's test world: the in-memory store holding the demo catalog, a
/// manual clock at its fixed start, and the step's `Deps` built over them.
pub struct World<D> {
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub deps: D,
}

impl<D> World<D> {
    /// `deps` picks the ports the step takes from the store and the clock.
    pub fn new(deps: impl FnOnce(&Arc<MemoryStore>, &Arc<ManualClock>) -> D) -> Self {
        let store = Arc::new(MemoryStore::with_products(demo_catalog()));
        let clock = Arc::new(ManualClock::at_fixed_start());
        let deps = deps(&store, &clock);
        Self { store, clock, deps }
    }

    /// A new order of `items` (paid with `token`, shipped to `postal_code`)
    /// brought to `stage` through the store, as [`fixtures::order_at`] does.
    pub async fn order_at(
        &self,
        stage: Stage,
        items: &[(&str, u32)],
        token: &str,
        postal_code: &str,
    ) -> OrderId {
        fixtures::order_at(
            &*self.store,
            stage,
            items,
            token,
            postal_code,
            self.clock.now(),
        )
        .await
        .order_id()
        .clone()
    }

    /// Runs a step twice on order `order_id` (a retry, a duplicate delivery):
    /// the second run answers as the first and changes nothing. Returns the
    /// answer.
    #[allow(clippy::unwrap_used)] // test support: a failed run is the failure report
    pub async fn assert_runs_once<O, E, Fut>(&self, order_id: &OrderId, run: impl Fn() -> Fut) -> O
    where
        O: PartialEq + Debug,
        E: Debug,
        Fut: Future<Output = Result<O, E>>,
    {
        let first = run().await.unwrap();
        let after_first = self.store.order(order_id);
        let second = run().await.unwrap();
        assert_eq!(first, second, "the second run answers as the first");
        assert_eq!(
            self.store.order(order_id),
            after_first,
            "the second run changes nothing"
        );
        first
    }
}

impl<D> Debug for World<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// One [`StoreError`] of every kind, wrapped by `wrap` (a variant of a step's
/// error), with the name each must report.
pub fn store_errors<E>(wrap: impl Fn(StoreError) -> E) -> Vec<(E, ErrorName)> {
    vec![
        (wrap(StoreError::transient("op", "x")), ErrorName::Transient),
        (
            wrap(StoreError::permanent("op", "x")),
            ErrorName::InternalError,
        ),
        (
            wrap(StoreError::corrupt("op", "x")),
            ErrorName::InternalError,
        ),
    ]
}

/// Checks a step's error type against its `ERROR_NAMES`: every kind of error
/// (one arm of an exhaustive `match`, so a new variant does not compile until
/// it is listed) has samples, each sample is of the kind it is listed under
/// and reports the name listed with it, and the names reported are exactly
/// the declared ones.
///
/// ```ignore
/// saga_core::assert_error_names!(Error, ERROR_NAMES, {
///     Error::Declined { .. } => [(Error::Declined { reason: "x".into() }, ErrorName::PaymentDeclined)],
///     Error::Store(_) => store_errors(Error::Store),
/// });
/// ```
#[macro_export]
macro_rules! assert_error_names {
    ($error:ty, $declared:expr, { $($kind:pat => $samples:expr),+ $(,)? }) => {{
        // No wildcard: a new variant fails to compile here until it is listed.
        fn kind_of(e: &$error) -> &'static str {
            match e {
                $($kind => stringify!($kind),)+
            }
        }
        let mut samples = ::std::vec::Vec::new();
        $(
            for (sample, name) in $samples {
                samples.push((stringify!($kind), sample, name));
            }
        )+
        $crate::testing::check_error_names(
            $declared,
            &[$(stringify!($kind)),+],
            samples,
            kind_of,
            <$error>::error_name,
        );
    }};
}

/// The runtime half of [`assert_error_names!`].
#[doc(hidden)]
pub fn check_error_names<E: Debug>(
    declared: &[ErrorName],
    kinds: &[&'static str],
    samples: Vec<(&'static str, E, ErrorName)>,
    kind_of: fn(&E) -> &'static str,
    name_of: fn(&E) -> ErrorName,
) {
    let declared_set: BTreeSet<ErrorName> = declared.iter().copied().collect();
    assert_eq!(
        declared_set.len(),
        declared.len(),
        "ERROR_NAMES lists a name twice"
    );
    let mut reported = BTreeSet::new();
    let mut sampled = BTreeSet::new();
    for (kind, sample, expected) in samples {
        assert_eq!(
            kind_of(&sample),
            kind,
            "{sample:?} is listed under the wrong kind"
        );
        assert_eq!(name_of(&sample), expected, "{kind}: {sample:?}");
        assert!(
            declared_set.contains(&expected),
            "{expected} ({kind}) is not in ERROR_NAMES"
        );
        reported.insert(expected);
        sampled.insert(kind);
    }
    for kind in kinds {
        assert!(sampled.contains(kind), "{kind} has no sample");
    }
    assert_eq!(
        reported, declared_set,
        "ERROR_NAMES lists a name no error reports"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_has_one_sample_of_every_kind() {
        let kinds: BTreeSet<&str> = store_errors(|e| e)
            .iter()
            // No wildcard: a new kind fails to compile until it has a sample.
            .map(|(e, _)| match e {
                StoreError::Transient { .. } => "Transient",
                StoreError::Permanent { .. } => "Permanent",
                StoreError::Corrupt { .. } => "Corrupt",
            })
            .collect();
        assert_eq!(kinds.len(), 3);
        for (e, name) in store_errors(|e| e) {
            assert_eq!(e.error_name(), name, "{e:?}");
        }
    }

    #[derive(Debug)]
    enum StepError {
        Refused,
        Store(StoreError),
    }

    impl StepError {
        fn error_name(&self) -> ErrorName {
            match self {
                Self::Refused => ErrorName::ShippingFailed,
                Self::Store(e) => e.error_name(),
            }
        }
    }

    #[test]
    fn a_complete_table_passes() {
        assert_error_names!(StepError, &[ErrorName::ShippingFailed, ErrorName::Transient, ErrorName::InternalError], {
            StepError::Refused => [(StepError::Refused, ErrorName::ShippingFailed)],
            StepError::Store(_) => store_errors(StepError::Store),
        });
    }

    #[test]
    #[should_panic(expected = "StepError::Refused: Refused")]
    fn a_wrong_name_fails() {
        assert_error_names!(StepError, &[ErrorName::ValidationError, ErrorName::Transient, ErrorName::InternalError], {
            StepError::Refused => [(StepError::Refused, ErrorName::ValidationError)],
            StepError::Store(_) => store_errors(StepError::Store),
        });
    }

    #[test]
    #[should_panic(expected = "StepError::Refused has no sample")]
    fn a_kind_without_a_sample_fails() {
        assert_error_names!(StepError, &[ErrorName::Transient, ErrorName::InternalError], {
            StepError::Refused => [],
            StepError::Store(_) => store_errors(StepError::Store),
        });
    }

    #[test]
    #[should_panic(expected = "is listed under the wrong kind")]
    fn a_sample_under_the_wrong_kind_fails() {
        assert_error_names!(StepError, &[ErrorName::ShippingFailed, ErrorName::Transient, ErrorName::InternalError], {
            StepError::Refused => [(StepError::Store(StoreError::transient("op", "x")), ErrorName::Transient)],
            StepError::Store(_) => store_errors(StepError::Store),
        });
    }

    #[test]
    #[should_panic(expected = "not in ERROR_NAMES")]
    fn an_undeclared_name_fails() {
        assert_error_names!(StepError, &[ErrorName::Transient, ErrorName::InternalError], {
            StepError::Refused => [(StepError::Refused, ErrorName::ShippingFailed)],
            StepError::Store(_) => store_errors(StepError::Store),
        });
    }

    #[test]
    #[should_panic(expected = "ERROR_NAMES lists a name no error reports")]
    fn a_declared_name_nothing_reports_fails() {
        assert_error_names!(StepError, &[ErrorName::ShippingFailed, ErrorName::OutOfStock, ErrorName::Transient, ErrorName::InternalError], {
            StepError::Refused => [(StepError::Refused, ErrorName::ShippingFailed)],
            StepError::Store(_) => store_errors(StepError::Store),
        });
    }
}
