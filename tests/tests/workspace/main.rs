//! The workspace test binary: one binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod e2e;
mod env_vars;
mod error_names;
mod iam;
mod infra;

/// A crate in `functions/`, as this binary links it.
#[derive(Debug)]
pub struct Function {
    /// Directory, package and binary name (`functions/<name>`).
    pub name: &'static str,
    /// Its `ENV_VARS`: what its `main.rs` reads (`env_vars.rs`) and exactly what
    /// Terraform sets (`infra.rs`).
    pub env_vars: &'static [&'static str],
    /// Its `ERROR_NAMES`, for the functions the state machine invokes
    /// (`error_names.rs`); `None` for the HTTP functions behind API Gateway.
    pub error_names: Option<&'static [saga_core::ErrorName]>,
}

/// Every function crate; `infra.rs` checks the names against the directories
/// of `functions/`, so a new crate cannot be left out of the checks.
pub const FUNCTIONS: &[Function] = &[
    Function {
        name: "api-handler",
        env_vars: api_handler::ENV_VARS,
        error_names: None,
    },
    Function {
        name: "approval-callback",
        env_vars: approval_callback::ENV_VARS,
        error_names: None,
    },
    Function {
        name: "compensate",
        env_vars: compensate::ENV_VARS,
        error_names: Some(compensate::ERROR_NAMES),
    },
    Function {
        name: "pay",
        env_vars: pay::ENV_VARS,
        error_names: Some(pay::ERROR_NAMES),
    },
    Function {
        name: "request-approval",
        env_vars: request_approval::ENV_VARS,
        error_names: Some(request_approval::ERROR_NAMES),
    },
    Function {
        name: "reserve",
        env_vars: reserve::ENV_VARS,
        error_names: Some(reserve::ERROR_NAMES),
    },
    Function {
        name: "ship",
        env_vars: ship::ENV_VARS,
        error_names: Some(ship::ERROR_NAMES),
    },
    Function {
        name: "validate",
        env_vars: validate::ENV_VARS,
        error_names: Some(validate::ERROR_NAMES),
    },
];

/// The entry of [`FUNCTIONS`] for `name`; panics if there is none.
pub fn function(name: &str) -> &'static Function {
    FUNCTIONS
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("functions/{name} is not in FUNCTIONS (tests/workspace/main.rs)"))
}
