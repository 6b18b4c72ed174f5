//! The task-token registry: the parked tasks waiting for a callback, the
//! callbacks sent to them, and the one atomic choice between a callback and
//! whatever else ends a parked task.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::mpsc::{self, UnboundedReceiver};

use crate::engine::{StopSignal, lock};
use crate::random;

/// A callback for a parked task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Callback {
    Success(Value),
    Failure {
        error: Option<String>,
        cause: Option<String>,
    },
    Heartbeat,
}

/// Errors of `send_task_success` / `send_task_failure` /
/// `send_task_heartbeat`, named like the AWS API errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The token is not one this engine could have issued.
    #[error("InvalidToken: the task token is not valid")]
    InvalidToken,
    /// No task with this token exists (for example: never issued here).
    #[error("TaskDoesNotExist: no task is waiting for this token")]
    TaskDoesNotExist,
    /// The task already finished (succeeded, failed or timed out).
    #[error("TaskTimedOut: the task has timed out or was already closed")]
    TaskTimedOut,
}

/// How many closed task tokens an engine remembers (so that a late callback
/// gets `TaskTimedOut` rather than `TaskDoesNotExist`). The oldest are
/// forgotten first; this bounds the memory of a long-running server.
pub(crate) const MAX_CLOSED_TOKENS: usize = 10_000;

/// A parked task as the registry sees it.
#[derive(Debug)]
struct Waiter {
    /// Callbacks are only ever sent with the registry locked (see
    /// [`Tokens::settle`]).
    tx: mpsc::UnboundedSender<Callback>,
    /// The execution's: once it is stopped, the stop has won the race
    /// against every later callback.
    stop: Arc<StopSignal>,
}

#[derive(Debug, Default)]
struct Registry {
    active: HashMap<String, Waiter>,
    closed: HashSet<String>,
    /// `closed` in the order the tokens were closed (oldest first).
    closed_order: VecDeque<String>,
}

impl Registry {
    fn close(&mut self, token: &str) {
        self.active.remove(token);
        if self.closed.insert(token.to_owned()) {
            self.closed_order.push_back(token.to_owned());
        }
        while self.closed_order.len() > MAX_CLOSED_TOKENS {
            if let Some(oldest) = self.closed_order.pop_front() {
                self.closed.remove(&oldest);
            }
        }
    }
}

/// Task tokens: the parked tasks waiting for a callback, and the most
/// recently closed ones.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    registry: Mutex<Registry>,
}

/// Closes a token when dropped (task finished, timed out or cancelled).
pub(crate) struct TokenGuard {
    tokens: Arc<Tokens>,
    token: String,
}

impl Drop for TokenGuard {
    fn drop(&mut self) {
        lock(&self.tokens.registry).close(&self.token);
    }
}

impl Tokens {
    /// Register `token` for a parked task of the execution `stop` belongs to.
    pub(crate) fn register(
        self: &Arc<Self>,
        token: &str,
        stop: &Arc<StopSignal>,
    ) -> (TokenGuard, UnboundedReceiver<Callback>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let waiter = Waiter {
            tx,
            stop: stop.clone(),
        };
        lock(&self.registry).active.insert(token.to_owned(), waiter);
        (
            TokenGuard {
                tokens: self.clone(),
                token: token.to_owned(),
            },
            rx,
        )
    }

    /// Hand `cb` to the task parked on `token`.
    pub(crate) fn callback(&self, token: &str, cb: Callback) -> Result<(), CallbackError> {
        if !random::is_token_shaped(token) {
            return Err(CallbackError::InvalidToken);
        }
        let mut registry = lock(&self.registry);
        let closes = !matches!(cb, Callback::Heartbeat);
        let Some(waiter) = registry.active.get(token) else {
            return Err(if registry.closed.contains(token) {
                CallbackError::TaskTimedOut
            } else {
                CallbackError::TaskDoesNotExist
            });
        };
        // Stopped but not yet ended: the stop won. The token stays open, so
        // the parked task ends by the stop, not by a closed token.
        if waiter.stop.is_stopped() {
            return Err(CallbackError::TaskTimedOut);
        }
        let sent = waiter.tx.send(cb).is_ok();
        if closes || !sent {
            registry.close(token);
        }
        if sent {
            Ok(())
        } else {
            Err(CallbackError::TaskTimedOut)
        }
    }

    /// The atomic choice between a callback and the other ways a parked
    /// task can end (a deadline passed, the host call ended it): a callback
    /// already accepted wins and is returned; otherwise the token is closed
    /// here, so every later callback is told `TaskTimedOut`. Callbacks are
    /// only sent with the registry locked, so with it locked `rx` holds every
    /// accepted one: the look and the close cannot be split by a callback.
    pub(crate) fn settle(
        &self,
        token: &str,
        rx: &mut UnboundedReceiver<Callback>,
    ) -> Option<Callback> {
        let mut registry = lock(&self.registry);
        match rx.try_recv() {
            Ok(cb) => Some(cb),
            Err(_) => {
                registry.close(token);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(i: usize) -> String {
        // 43 URL-safe base64 characters, like the engine's own tokens.
        format!("{i:0>43}")
    }

    #[test]
    fn closed_tokens_are_bounded_and_the_oldest_are_forgotten() {
        let tokens = Arc::new(Tokens::default());
        let total = MAX_CLOSED_TOKENS + 500;
        for i in 0..total {
            let (guard, _rx) = tokens.register(&token(i), &Arc::default());
            drop(guard);
        }
        {
            let registry = lock(&tokens.registry);
            assert!(registry.active.is_empty());
            assert_eq!(registry.closed.len(), MAX_CLOSED_TOKENS);
            assert_eq!(registry.closed_order.len(), MAX_CLOSED_TOKENS);
        }
        // The newest closed tokens are still known as closed ...
        assert_eq!(
            tokens.callback(&token(total - 1), Callback::Heartbeat),
            Err(CallbackError::TaskTimedOut)
        );
        // ... the oldest ones are forgotten.
        assert_eq!(
            tokens.callback(&token(0), Callback::Heartbeat),
            Err(CallbackError::TaskDoesNotExist)
        );
        // A token closed by its callback counts too, and is bounded the same way.
        let (_guard, _rx) = tokens.register(&token(total), &Arc::default());
        assert_eq!(
            tokens.callback(&token(total), Callback::Success(Value::Null)),
            Ok(())
        );
        assert_eq!(
            tokens.callback(&token(total), Callback::Success(Value::Null)),
            Err(CallbackError::TaskTimedOut)
        );
        assert_eq!(lock(&tokens.registry).closed.len(), MAX_CLOSED_TOKENS);
    }

    #[test]
    fn settle_returns_an_accepted_callback_or_closes_the_token() {
        let tokens = Arc::new(Tokens::default());
        let (_guard, mut rx) = tokens.register(&token(1), &Arc::default());
        assert_eq!(tokens.callback(&token(1), Callback::Heartbeat), Ok(()));
        assert_eq!(
            tokens.settle(&token(1), &mut rx),
            Some(Callback::Heartbeat),
            "an accepted heartbeat wins; the token stays open"
        );
        assert_eq!(tokens.settle(&token(1), &mut rx), None);
        assert_eq!(
            tokens.callback(&token(1), Callback::Success(Value::Null)),
            Err(CallbackError::TaskTimedOut),
            "after the close, the callback is told"
        );
    }
}
