//! One module per subcommand. Each has `Args` (clap) and `run(&Args) -> ExitCode`.
//!
//! Exit codes: 0 success, 1 the execution did not succeed, 2 invalid
//! definition or arguments.

pub mod exec;
pub mod graph;
pub mod serve;
pub mod validate;

use std::io::Write;
use std::process::ExitCode;

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
