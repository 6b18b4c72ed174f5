//! `saga-local validate FILE…`

use std::path::PathBuf;
use std::process::ExitCode;

use saga_local::load::load_definition;
use saga_local::placeholders::parse_vars;

use super::{INVALID, eprint_lines, invalid, print_line};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// ASL definition files (Terraform `${placeholders}` are filled first).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Override a placeholder: NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

/// Exit 0 when every file is valid, 2 otherwise.
pub fn run(args: &Args) -> ExitCode {
    let vars = match parse_vars(&args.vars) {
        Ok(v) => v,
        Err(e) => return invalid(vec![e.to_string()]),
    };
    let mut ok = true;
    for f in &args.files {
        match load_definition(f, &vars) {
            Ok(m) => print_line(&format!("OK {} ({} states)", f.display(), m.state_count())),
            Err(e) => {
                ok = false;
                eprint_lines(e.lines());
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}
