//! Reusable pieces of `saga-local`: placeholder filling, definition loading,
//! the MockConfigFile task host, Mermaid diagrams, the virtual-time
//! runner used by `exec`, and the `serve` server.
#![forbid(unsafe_code)]

pub mod engine_glue;
pub mod graph;
pub mod load;
pub mod mock;
pub mod placeholders;
pub mod serve;
pub mod steps;
pub mod virtual_run;
