//! Reusable pieces of `saga-local`: placeholder filling, definition loading,
//! the MockConfigFile task host, Mermaid diagrams, and the virtual-time
//! runner used by `exec`.
#![forbid(unsafe_code)]

pub mod engine_glue;
pub mod graph;
pub mod load;
pub mod mock;
pub mod placeholders;
pub mod steps;
pub mod virtual_run;
