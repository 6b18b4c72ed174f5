//! The workspace test binary: one binary, one module per concern.

mod error_names;
mod infra;
