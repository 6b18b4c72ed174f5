//! One module per subcommand. Each has `Args` (clap) and `run(&Args) -> ExitCode`.
//!
//! Exit codes: 0 success, 1 the execution did not succeed, 2 invalid
//! definition or arguments.

pub mod exec;
pub mod graph;
pub mod serve;
pub mod validate;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use asl::StateMachine;
use saga_local::load::load_definition;
use saga_local::placeholders::parse_vars;

/// Exit code for invalid definitions and arguments.
pub const INVALID: u8 = 2;

/// Write lines to stderr (ignoring a closed pipe).
pub fn eprint_lines<I: IntoIterator<Item = String>>(lines: I) {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for l in lines {
        let _ = writeln!(err, "{l}");
    }
}

/// Write one line to stdout (ignoring a closed pipe).
pub fn print_line(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Report an argument or definition error and return exit code 2.
pub fn invalid(lines: Vec<String>) -> ExitCode {
    eprint_lines(lines);
    ExitCode::from(INVALID)
}

/// The placeholder overrides of the subcommands that load a definition.
#[derive(Debug, clap::Args)]
pub struct Vars {
    /// Override a placeholder: NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

impl Vars {
    /// The overrides by name, or (having said why) exit code 2.
    pub fn parse(&self) -> Result<BTreeMap<String, String>, ExitCode> {
        parse_vars(&self.vars).map_err(|e| invalid(vec![e.to_string()]))
    }

    /// The definition in `file` with these overrides, or (having said why)
    /// exit code 2.
    pub fn load(&self, file: &Path) -> Result<StateMachine, ExitCode> {
        load_definition(file, &self.parse()?).map_err(|e| invalid(e.lines()))
    }
}
