//! `saga-local exec FILE [--input JSON|@FILE] [--mock-config FILE --test-case NAME [--state-machine NAME]] [--history]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use asl::{ExecutionStatus, TaskHost};
use saga_local::mock::{MockConfig, NoMocks};
use saga_local::virtual_run::run_virtual;
use serde_json::Value;

use super::{Vars, eprint_lines, invalid, print_line};

/// Arguments of `exec`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// ASL definition file.
    pub file: PathBuf,
    /// Execution input: JSON text, or @FILE to read it from a file.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// AWS Step Functions Local MockConfigFile with the task results.
    #[arg(long, value_name = "FILE", requires = "test_case")]
    pub mock_config: Option<PathBuf>,
    /// Test case in the MockConfigFile.
    #[arg(long, value_name = "NAME", requires = "mock_config")]
    pub test_case: Option<String>,
    /// State machine in the MockConfigFile (default: the only one).
    #[arg(long, value_name = "NAME", requires = "mock_config")]
    pub state_machine: Option<String>,
    /// Execution name.
    #[arg(long, default_value = "local")]
    pub name: String,
    /// Write the history events to stderr, one JSON object per line.
    #[arg(long)]
    pub history: bool,
    #[command(flatten)]
    pub vars: Vars,
}

fn read_input(arg: &str) -> Result<Value, String> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read input file {path}: {e}"))?,
        None => arg.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| format!("--input is not valid JSON: {e}"))
}

fn host(args: &Args) -> Result<Arc<dyn TaskHost>, String> {
    let (Some(path), Some(case)) = (&args.mock_config, &args.test_case) else {
        return Ok(Arc::new(NoMocks));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let config = MockConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let host = config
        .host(args.state_machine.as_deref(), case)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Arc::new(host))
}

/// Run to the end; print `{"status","output","error","cause"}` on stdout.
/// Exit 0 if SUCCEEDED, 1 if not, 2 for invalid definitions or arguments.
pub fn run(args: &Args) -> ExitCode {
    let machine = match args.vars.load(&args.file) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let input = match read_input(&args.input) {
        Ok(v) => v,
        Err(e) => return invalid(vec![e]),
    };
    let host = match host(args) {
        Ok(h) => h,
        Err(e) => return invalid(vec![e]),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(r) => r,
        Err(e) => return invalid(vec![format!("cannot start the runtime: {e}")]),
    };
    let outcome = match runtime.block_on(run_virtual(&machine, host, &args.name, input)) {
        Ok(o) => o,
        Err(e) => return invalid(vec![e.to_string()]),
    };
    if args.history {
        eprint_lines(
            outcome
                .history
                .iter()
                .map(|e| serde_json::to_string(e).unwrap_or_default()),
        );
    }
    print_line(&outcome.summary_line());
    if outcome.status == ExecutionStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
