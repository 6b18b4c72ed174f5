//! `saga-local`: serve the order saga on one machine; validate, execute
//! (mocked, virtual time) and draw ASL state machines. Each subcommand lives
//! in its own module under `commands/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

/// Run the order saga's state machines on one machine.
#[derive(Debug, Parser)]
#[command(name = "saga-local", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole order saga on this machine: HTTP API, executions, SQLite, outbox.
    Serve(commands::serve::Args),
    /// Check ASL definitions; print every problem with its JSON pointer.
    Validate(commands::validate::Args),
    /// Run a definition to the end in virtual time with mocked tasks.
    Exec(commands::exec::Args),
    /// Print a Mermaid flowchart of a definition.
    Graph(commands::graph::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => commands::serve::run(&args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::Exec(args) => commands::exec::run(&args),
        Command::Graph(args) => commands::graph::run(&args),
    }
}
