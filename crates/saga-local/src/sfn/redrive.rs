//! RedriveExecution as AWS defines it (see REDRIVE-SEMANTICS.md): an
//! execution that ended `FAILED`, `TIMED_OUT` or `ABORTED` less than 14
//! days ago continues from the state it stopped in
//! ([`asl::ExecutionSnapshot::redriven`]), with the same ARN; its history
//! continues with `ExecutionRedriven`; `redriveCount` and `redriveDate`
//! show in DescribeExecution and ListExecutions. The redrive is stored (new
//! events and the `RUNNING` head, one transaction) before the execution
//! continues, so it survives a restart like any running execution.
//!
//! `clientToken`: the last 10 tokens that redrove the execution, each for
//! 15 minutes, answer again with the date of their redrive.

use asl::{ExecutionStatus, NotRedrivable};
use saga_sqlite::{EventRow, ExecutionMeta, ExecutionRow};
use serde_json::{Value, json};

use super::SfnApi;
use super::executions::{ClientToken, Redrives, not_redrivable, parse_state, status_of};
use super::protocol::{ApiError, Request, epoch_ms};
use crate::serve::persistence::whole_snapshot;

/// How long a `clientToken` answers idempotently, and how many are kept.
const TOKEN_MS: i64 = 15 * 60 * 1000;
const TOKENS_KEPT: usize = 10;

/// The history must leave room for `ExecutionRedriven` and one more event
/// (AWS's limit is 25,000 events).
const MAX_EVENTS: usize = 24_998;

fn not_redrivable_error(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        "ExecutionNotRedrivable",
        format!("Execution Not Redrivable: {why}"),
    )
}

fn client_token(req: &Request) -> Result<Option<&str>, ApiError> {
    let token = req.opt_str("clientToken")?;
    if let Some(t) = token
        && (t.is_empty() || t.chars().count() > 64)
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{t}' at 'clientToken' failed to satisfy constraint: Member must have length between 1 and 64"
        )));
    }
    Ok(token)
}

impl SfnApi {
    pub(super) async fn redrive_execution(&self, req: &Request) -> Result<Value, ApiError> {
        let arn = req.str("executionArn")?;
        let token = client_token(req)?;
        let (machine_name, name) = self.arns.parse_execution(arn)?;
        let saga = self.saga.as_ref().filter(|s| s.name() == machine_name);
        // The saga's rows are named by order id, the API's by ARN.
        let key = if saga.is_some() { name } else { arn };
        let (row, meta) = match self.store.execution_with_meta(key).await? {
            Some((row, meta)) if saga.is_some() == meta.machine.is_empty() => (row, meta),
            _ => return Err(super::run::execution_does_not_exist(arn)),
        };
        let mut redrives = Redrives::parse(meta.redrive.as_deref());
        let now = chrono::Utc::now();
        let now_ms = now.timestamp_millis();
        if let Some(t) = token
            && let Some(seen) = redrives
                .tokens
                .iter()
                .find(|c| c.token == t && now_ms - c.at_ms <= TOKEN_MS)
        {
            return Ok(json!({"redriveDate": epoch_ms(seen.at_ms)}));
        }
        let machine = match saga {
            Some(s) => s.machine.clone(),
            None => self.redrivable_machine(&meta).await?,
        };
        let parsed = parse_state(&row.state);
        let status = status_of(&row.status);
        let stop_ms = parsed
            .snapshot
            .as_ref()
            .and_then(|s| s.stop_time)
            .map(|t| t.timestamp_millis());
        if let Some(why) = not_redrivable(status, stop_ms, now_ms) {
            return Err(not_redrivable_error(why));
        }
        let head = parsed
            .snapshot
            .ok_or_else(|| not_redrivable_error(NotRedrivable::NoStoppingPoint))?;
        let whole = whole_snapshot(&self.store, key, head).await?;
        if whole.history.len() > MAX_EVENTS {
            return Err(not_redrivable_error(
                "Execution history event limit exceeded",
            ));
        }
        let count = redrives.count + 1;
        let (snapshot, events) = whole.redriven(now, count).map_err(not_redrivable_error)?;
        redrives.count = count;
        redrives.last_ms = Some(now_ms);
        if let Some(t) = token {
            redrives.tokens.push(ClientToken {
                token: t.to_owned(),
                at_ms: now_ms,
            });
            let extra = redrives.tokens.len().saturating_sub(TOKENS_KEPT);
            redrives.tokens.drain(..extra);
        }
        let stored = self
            .store_redrive(key, &row, &snapshot, &events, &redrives, now_ms)
            .await?;
        if !stored {
            // Another redrive of the same execution won the race.
            return Err(not_redrivable_error(
                "Execution is RUNNING and cannot be redriven",
            ));
        }
        match saga {
            Some(s) => s
                .workflow
                .continue_redriven(snapshot)
                .map_err(|e| ApiError::internal(e.to_string()))?,
            None => {
                let row = self.store.state_machine(&meta.machine).await?;
                let case = row
                    .as_ref()
                    .zip(meta.test_case.as_deref())
                    .map(|(r, c)| (r.name.as_str(), c));
                self.continue_machine_execution(&machine, snapshot, case)?;
            }
        }
        Ok(json!({"redriveDate": epoch_ms(now_ms)}))
    }

    /// The machine an API-created execution redrives on: not EXPRESS, not
    /// deleted.
    async fn redrivable_machine(
        &self,
        meta: &ExecutionMeta,
    ) -> Result<asl::StateMachine, ApiError> {
        let Some(row) = self.store.state_machine(&meta.machine).await? else {
            return Err(not_redrivable_error("State machine is deleted"));
        };
        if row.machine_type == "EXPRESS" {
            return Err(not_redrivable_error(
                "RedriveExecution is not supported by EXPRESS state machines",
            ));
        }
        self.parsed(&row)
    }

    /// The redrive's events and `RUNNING` head, if the execution still has
    /// the status it was read with.
    async fn store_redrive(
        &self,
        key: &str,
        row: &ExecutionRow,
        snapshot: &asl::ExecutionSnapshot,
        events: &[asl::HistoryEvent],
        redrives: &Redrives,
        now_ms: i64,
    ) -> Result<bool, ApiError> {
        let head = snapshot.clone().with_history(Vec::new());
        debug_assert_eq!(head.status, ExecutionStatus::Running);
        let rows = events
            .iter()
            .map(|e| {
                Ok(EventRow {
                    id: e.id,
                    doc: to_json(e)?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(self
            .store
            .redrive_execution(
                key,
                &row.status,
                to_json(&head)?,
                rows,
                redrives.to_doc(),
                now_ms,
            )
            .await?)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value)
        .map_err(|e| ApiError::internal(format!("cannot serialize the redrive: {e}")))
}
