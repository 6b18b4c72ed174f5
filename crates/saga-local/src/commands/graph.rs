//! `saga-local graph FILE`

use std::path::PathBuf;
use std::process::ExitCode;

use saga_local::graph::mermaid;

use super::{Vars, print_line};

/// Arguments of `graph`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// ASL definition file.
    pub file: PathBuf,
    #[command(flatten)]
    pub vars: Vars,
}

/// Print the Mermaid flowchart; exit 2 if the definition is invalid.
pub fn run(args: &Args) -> ExitCode {
    match args.vars.load(&args.file) {
        Ok(m) => {
            print_line(mermaid(&m).trim_end());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
