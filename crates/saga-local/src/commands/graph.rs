//! `saga-local graph FILE`

use std::path::PathBuf;
use std::process::ExitCode;

use saga_local::graph::mermaid;
use saga_local::load::load_definition;
use saga_local::placeholders::parse_vars;

use super::{invalid, print_line};

/// Arguments of `graph`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// ASL definition file.
    pub file: PathBuf,
    /// Override a placeholder: NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

/// Print the Mermaid flowchart; exit 2 if the definition is invalid.
pub fn run(args: &Args) -> ExitCode {
    let vars = match parse_vars(&args.vars) {
        Ok(v) => v,
        Err(e) => return invalid(vec![e.to_string()]),
    };
    match load_definition(&args.file, &vars) {
        Ok(m) => {
            print_line(mermaid(&m).trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => invalid(e.lines()),
    }
}
