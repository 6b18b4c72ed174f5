//! Contract tests of the AWS adapters against moto (a server speaking the AWS
//! wire protocols), so the real SDK calls, expressions, conditions and error
//! mapping are exercised. Run them through the harness:
//!
//! ```text
//! bash scripts/with-moto.sh cargo test -p saga-aws --test contract
//! ```
//!
//! Isolation: every test creates its own tables / topics / queues / state
//! machines with unique names, so tests run in parallel against one moto and
//! nothing needs resetting. See docs/aws-contract-tests.md.

// A test binary: helpers outside #[test] functions panic on failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod approvals;
mod catalog;
mod errors;
mod idempotency;
mod notifier;
mod open_orders;
mod orders;
mod saga;
mod sfn_local;
mod stock;
mod support;
mod tables;
mod workflow;
