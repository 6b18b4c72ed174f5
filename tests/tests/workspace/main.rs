//! The workspace test binary: one binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod e2e;
mod env_vars;
mod error_names;
mod infra;
