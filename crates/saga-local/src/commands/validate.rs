//! `saga-local validate FILE…`

use std::path::PathBuf;
use std::process::ExitCode;

use saga_local::load::load_definition;

use super::{INVALID, Vars, eprint_lines, print_line};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// ASL definition files (Terraform `${placeholders}` are filled first).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub vars: Vars,
}

/// Exit 0 when every file is valid, 2 otherwise.
pub fn run(args: &Args) -> ExitCode {
    let vars = match args.vars.parse() {
        Ok(v) => v,
        Err(code) => return code,
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
