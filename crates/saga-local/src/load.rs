//! Reading a definition file: fill placeholders, parse, validate.

use std::collections::BTreeMap;
use std::path::Path;

use asl::{Problem, StateMachine};

use crate::placeholders::{self, PlaceholderError};

/// Why a definition file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A placeholder could not be filled.
    #[error("{path}: {source}")]
    Placeholder {
        /// The file.
        path: String,
        /// What went wrong.
        #[source]
        source: PlaceholderError,
    },
    /// The definition is invalid.
    #[error("{path}: {} problem(s)", problems.len())]
    Invalid {
        /// The file.
        path: String,
        /// Every problem, with its JSON pointer.
        problems: Vec<Problem>,
    },
}

impl LoadError {
    /// One line per problem, prefixed with the file name.
    pub fn lines(&self) -> Vec<String> {
        match self {
            LoadError::Invalid { path, problems } => {
                problems.iter().map(|p| format!("{path}: {p}")).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

/// The state machine name for a file: its name without `.asl.json` /
/// `.json` (`statemachines/order-saga.asl.json` → `order-saga`).
pub fn machine_name(path: &Path) -> String {
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("StateMachine");
    let stem = file
        .strip_suffix(".asl.json")
        .or_else(|| file.strip_suffix(".json"))
        .unwrap_or(file);
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.is_empty() {
        "StateMachine".to_owned()
    } else {
        clean
    }
}

/// Read, fill placeholders (`vars` override the defaults), parse and
/// validate.
pub fn load_definition(
    path: &Path,
    vars: &BTreeMap<String, String>,
) -> Result<StateMachine, LoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: shown.clone(),
        source,
    })?;
    let filled = placeholders::fill(&text, vars).map_err(|source| LoadError::Placeholder {
        path: shown.clone(),
        source,
    })?;
    let machine = StateMachine::parse(&filled).map_err(|problems| LoadError::Invalid {
        path: shown,
        problems,
    })?;
    Ok(machine.with_name(&machine_name(path)))
}
