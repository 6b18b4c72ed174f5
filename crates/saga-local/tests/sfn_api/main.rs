//! The Step Functions API of `saga-local serve` through the real
//! `aws-sdk-sfn` client (endpoint URL, dummy credentials): every action,
//! its errors, pagination, MockConfigFile test cases, Lambda tasks through
//! `--lambda-endpoint`, the order saga under its fixed ARN, executions
//! across a restart, and RedriveExecution.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod callbacks;
mod durable;
mod executions;
mod machines;
mod mocks;
mod redrive;
mod support;
