//! The workspace test binary: one binary, one module per concern.

mod infra;
