//! The human view of `serve`: plain lines on stdout (the banner, one line per
//! state transition, one per finished execution, one per outbox message).
//! Diagnostics go through `tracing` to stderr instead.
//!
//! This is the one module that prints to stdout.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asl::TransitionOutcome;
use asl::{EventDetails, EventType, ExecutionInfo, HistoryEvent, Observer, StateTransition};

/// Where console lines go.
#[derive(Debug, Clone, Default)]
pub enum ConsoleMode {
    /// Everything on stdout.
    #[default]
    Stdout,
    /// Only the line announcing the URL (`--quiet`).
    Quiet,
    /// Nothing on stdout; every line is kept in the buffer (tests).
    Memory(ConsoleBuffer),
}

/// Lines kept by [`ConsoleMode::Memory`].
#[derive(Debug, Clone, Default)]
pub struct ConsoleBuffer(Arc<Mutex<Vec<String>>>);

impl ConsoleBuffer {
    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn push(&self, line: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}

/// The console of one server.
#[derive(Debug)]
pub struct Console {
    mode: ConsoleMode,
    closed: AtomicBool,
}

impl Console {
    pub fn new(mode: ConsoleMode) -> Self {
        Self {
            mode,
            closed: AtomicBool::new(false),
        }
    }

    /// A line for a person watching (silenced by `--quiet`).
    pub fn line(&self, line: &str) {
        self.emit(line, false);
    }

    /// A line printed even with `--quiet` (the URL scripts read).
    pub fn always(&self, line: &str) {
        self.emit(line, true);
    }

    /// Nothing more is printed (the server has shut down; executions that are
    /// still unwinding must not look like they failed).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    fn emit(&self, line: &str, always: bool) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        match &self.mode {
            ConsoleMode::Stdout => {}
            ConsoleMode::Quiet if always => {}
            ConsoleMode::Quiet => return,
            ConsoleMode::Memory(buffer) => return buffer.push(line.to_owned()),
        }
        // A closed pipe (`saga-local serve | head`) is not worth a panic.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// One console line per top-level state transition and one per finished
/// execution: `<orderId> <State> <outcome> <elapsed> ms`.
#[derive(Debug)]
pub struct TransitionPrinter {
    console: Arc<Console>,
    clock: Arc<dyn asl::Clock>,
}

impl TransitionPrinter {
    pub fn new(console: Arc<Console>, clock: Arc<dyn asl::Clock>) -> Self {
        Self { console, clock }
    }
}

/// `01KD… ProcessPayment     succeeded                      3 ms`.
pub fn transition_line(execution: &str, t: &StateTransition) -> String {
    let outcome = match &t.outcome {
        TransitionOutcome::Succeeded { next: Some(next) } if t.state_type == "Choice" => {
            format!("-> {next}")
        }
        TransitionOutcome::Succeeded { .. } => "succeeded".to_owned(),
        TransitionOutcome::Caught { error, next } => format!("caught {error} -> {next}"),
        TransitionOutcome::Failed { error, .. } => format!("failed {error}"),
    };
    format!(
        "{execution} {:<19} {:<32} {:>6} ms",
        t.state_name,
        outcome,
        t.elapsed.as_millis()
    )
}

/// What a compensation undid, from its task output
/// (`{"Payload": {"status", "undone": […]}}`): `01KD… << REJECTED, undone: stockReleased`.
pub fn undone_line(execution: &str, output: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(output).ok()?;
    let payload = value.get("Payload")?;
    let undone: Vec<&str> = payload
        .get("undone")?
        .as_array()?
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let status = payload.get("status").and_then(serde_json::Value::as_str)?;
    let what = if undone.is_empty() {
        "nothing to undo".to_owned()
    } else {
        format!("undone: {}", undone.join(", "))
    };
    Some(format!("{execution} << {status}, {what}"))
}

/// `01KD… ══ SUCCEEDED in 14 ms` / `01KD… ══ FAILED PaymentDeclined in 9 ms`.
pub fn end_line(execution: &str, status: &str, error: Option<&str>, total: Duration) -> String {
    let what = match error {
        Some(e) if !e.is_empty() => format!("{status} {e}"),
        _ => status.to_owned(),
    };
    format!("{execution} == {what} in {} ms", total.as_millis())
}

impl Observer for TransitionPrinter {
    fn on_transition(&self, execution: &ExecutionInfo, transition: &StateTransition) {
        if !transition.nested {
            self.console
                .line(&transition_line(&execution.name, transition));
        }
    }

    fn on_event(&self, execution: &ExecutionInfo, event: &HistoryEvent) {
        if let EventDetails::TaskSucceeded(d) = &event.details {
            if let Some(line) = undone_line(&execution.name, &d.output) {
                self.console.line(&line);
            }
            return;
        }
        let status = match event.event_type {
            EventType::ExecutionSucceeded => "SUCCEEDED",
            EventType::ExecutionFailed => "FAILED",
            EventType::ExecutionTimedOut => "TIMED_OUT",
            EventType::ExecutionAborted => "ABORTED",
            _ => return,
        };
        let error = match &event.details {
            EventDetails::ExecutionFailed(d)
            | EventDetails::ExecutionTimedOut(d)
            | EventDetails::ExecutionAborted(d) => d.error.as_deref(),
            _ => None,
        };
        let total = (self.clock.now() - execution.start_time)
            .to_std()
            .unwrap_or_default();
        self.console
            .line(&end_line(&execution.name, status, error, total));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(name: &str, kind: &'static str, outcome: TransitionOutcome) -> StateTransition {
        StateTransition {
            state_name: name.into(),
            state_type: kind,
            outcome,
            elapsed: Duration::from_millis(3),
            nested: false,
        }
    }

    #[test]
    fn a_transition_line_names_the_order_the_state_the_outcome_and_the_time() {
        let line = transition_line(
            "01KD0000000000000000000000",
            &transition(
                "ProcessPayment",
                "Task",
                TransitionOutcome::Caught {
                    error: "PaymentDeclined".into(),
                    next: "Compensate".into(),
                },
            ),
        );
        assert!(line.starts_with("01KD0000000000000000000000 ProcessPayment "));
        assert!(line.contains("caught PaymentDeclined -> Compensate"));
        assert!(line.ends_with(" 3 ms"), "{line}");

        let choice = transition_line(
            "x",
            &transition(
                "NeedsApproval",
                "Choice",
                TransitionOutcome::Succeeded {
                    next: Some("RequestApproval".into()),
                },
            ),
        );
        assert!(choice.contains("-> RequestApproval"), "{choice}");
    }

    #[test]
    fn a_compensation_says_what_it_undid() {
        let output = r#"{"Payload": {"orderId": "x", "status": "REJECTED", "undone": ["stockReleased"], "error": "ApprovalRejected", "cause": "no"}, "StatusCode": 200}"#;
        assert_eq!(
            undone_line("01KD", output).as_deref(),
            Some("01KD << REJECTED, undone: stockReleased")
        );
        assert_eq!(
            undone_line("01KD", r#"{"Payload": {"chargeId": "c"}}"#),
            None
        );
    }

    #[test]
    fn memory_keeps_every_line_until_closed() {
        let buffer = ConsoleBuffer::default();
        let console = Console::new(ConsoleMode::Memory(buffer.clone()));
        console.line("a");
        console.always("b");
        console.close();
        console.line("after shutdown");
        assert_eq!(buffer.lines(), vec!["a", "b"]);
    }
}
