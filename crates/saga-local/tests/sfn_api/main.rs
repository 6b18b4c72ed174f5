//! The Step Functions API of `saga-local serve` through the real
//! `aws-sdk-sfn` client (endpoint URL, dummy credentials): every action,
//! its errors, pagination, MockConfigFile test cases, Lambda tasks through
//! `--lambda-endpoint`, the order saga under its fixed ARN, executions
//! across a restart and a `kill -9` of the binary, and RedriveExecution.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod callbacks;
mod durable;
mod executions;
mod killed;
mod machines;
mod mocks;
mod redrive;
mod support;
mod test_state;
