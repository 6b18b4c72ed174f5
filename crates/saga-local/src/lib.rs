//! Reusable pieces of `saga-local`: placeholder filling, definition loading,
//! the MockConfigFile task host, Mermaid diagrams, and the virtual-time
//! runner used by `exec`.
#![forbid(unsafe_code)]

pub mod graph;
pub mod load;
pub mod mock;
pub mod placeholders;
pub mod virtual_run;
