//! The workspace test binary: one binary, one module per concern.

mod env_vars;
mod error_names;
mod infra;
