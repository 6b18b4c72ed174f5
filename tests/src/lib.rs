//! Helpers shared by the workspace tests: paths, the moto endpoint, a fake
//! Lambda Runtime API that runs a real function binary the way Lambda does,
//! and an HTTP driver for `saga-local serve` ([`local`]; also used by
//! saga-local's crash tests and benchmark), and a stand-in evaluator of
//! `infra/`'s Terraform for the static checks ([`terraform`]).

use std::path::PathBuf;

pub mod fake_runtime;
pub mod local;
pub mod process;
pub mod terraform;

/// The workspace root (the directory holding the virtual `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// moto's base URL, or a panic telling how to run the tests that need it.
pub fn moto_endpoint() -> String {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("MOTO_ENDPOINT is not set: run through scripts/with-moto.sh (make test)"),
    }
}
