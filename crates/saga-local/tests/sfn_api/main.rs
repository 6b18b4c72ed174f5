//! The Step Functions API of `saga-local serve` through the real
//! `aws-sdk-sfn` client (endpoint URL, dummy credentials): every action,
//! its errors, pagination, MockConfigFile test cases, Lambda tasks through
//! `--lambda-endpoint`, and the order saga under its fixed ARN.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod callbacks;
mod executions;
mod machines;
mod mocks;
mod support;
mod test_state;
