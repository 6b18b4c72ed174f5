//! Reusable pieces of `saga-local`: placeholder filling, definition loading,
//! the MockConfigFile task host, Mermaid diagrams, the virtual-time
//! runner used by `exec`, and the `serve` server.
#![forbid(unsafe_code)]

/// `Debug` for a type that holds handles (engines, stores, channels) rather
/// than data: its name and the fields that tell one value from another, e.g.
/// `OutboxNotifier { dir: "…", .. }`.
macro_rules! debug_naming {
    ($type:ident $(, $field:ident)*) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

pub mod engine_glue;
pub mod graph;
pub mod load;
pub mod mock;
pub mod placeholders;
pub mod serve;
pub mod sfn;
pub mod steps;
pub mod virtual_run;
