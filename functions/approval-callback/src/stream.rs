//! Redelivery in AWS: the approvals table's DynamoDB stream invokes this
//! function, so a decision recorded but not delivered (its POST answered
//! `503`, or the function died in between) reaches the execution without a
//! second click and without a function of its own.
//!
//! The event source mapping (infra/lambda.tf) passes only the writes that
//! leave an approval decided and not delivered ([`stream_filter`]), and
//! waits its batching window first, so the decision's own POST has finished
//! delivering it. Each such record's approval is read again (a record may be
//! a retry or arrive late) and handed to [`redeliver`], the code saga-local's
//! sweep runs: `SendTaskSuccess` says whether it was delivered or the
//! execution stopped waiting. A delivered decision is never sent twice, and a
//! closed task never flips the outcome: it marks the approval expired, as a
//! POST would.
//!
//! Only a failure a retry may fix is reported, as that record's batch item
//! failure: Lambda retries it (bounded by the mapping) while the records that
//! succeeded are done.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use saga_apigw::{Request, Response};
use saga_core::ApprovalId;
use saga_core::approval::ApprovalStatus;
use saga_core::ports::error_chain;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::{Deps, Error, redeliver, respond};

/// A batch of the approvals table's stream records.
pub type StreamEvent = Event;
/// The records of a [`StreamEvent`] to retry (`ReportBatchItemFailures`).
pub type StreamResponse = DynamoDbEventResponse;

/// What the function is invoked with: an approval page or decision from the
/// HTTP API, or records of the approvals table's stream.
#[derive(Debug)]
pub enum Invocation {
    Http(Box<Request>),
    Stream(StreamEvent),
}

/// A stream event is `{"Records": [...]}`; an HTTP API event never has that
/// key. Deciding on it first keeps each kind's own parse error (an untagged
/// enum would only say that neither matched).
impl<'de> Deserialize<'de> for Invocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let parsed = if value.get("Records").is_some() {
            serde_json::from_value(value).map(Self::Stream)
        } else {
            serde_json::from_value(value).map(|r| Self::Http(Box::new(r)))
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// The answer to an [`Invocation`], of the same kind.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Http(Box<Response>),
    Stream(StreamResponse),
}

/// Answer either kind of invocation: what `main.rs` runs.
pub async fn invoke(deps: &Deps, invocation: Invocation) -> Reply {
    match invocation {
        Invocation::Http(req) => Reply::Http(Box::new(respond(deps, *req).await)),
        Invocation::Stream(event) => Reply::Stream(redeliver_records(deps, &event).await),
    }
}

/// The event source mapping's filter pattern (infra/lambda.tf has the same,
/// the workspace tests compare them): inserts and updates whose new image is
/// decided and not delivered. Attribute names are the approval's stored
/// (serde) names.
pub fn stream_filter() -> Value {
    json!({
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {
            "NewImage": {
                "status": {"S": [ApprovalStatus::Approved.as_str(), ApprovalStatus::Rejected.as_str()]},
                "delivered": {"BOOL": [false]}
            }
        }
    })
}

/// Redeliver the decision of every record whose new image is decided and not
/// delivered (the same test as [`stream_filter`]: an invocation without the
/// filter acts the same), each approval once, concurrently. The answer names
/// the records to retry.
pub async fn redeliver_records(deps: &Deps, event: &StreamEvent) -> StreamResponse {
    // One approval written twice in a batch is redelivered once; a failure
    // names its first record (Lambda retries from the lowest failed one).
    let mut wanted: Vec<(ApprovalId, Option<String>)> = Vec::new();
    for record in &event.records {
        if let Some(id) = undelivered_decision(record)
            && !wanted.iter().any(|(w, _)| *w == id)
        {
            wanted.push((id, record.change.sequence_number.clone()));
        }
    }
    let results = futures_util::future::join_all(
        wanted
            .into_iter()
            .map(|(id, seq)| async move { (redeliver_current(deps, &id).await, seq) }),
    )
    .await;
    let mut response = StreamResponse::default();
    for (result, sequence_number) in results {
        if result.is_err() {
            // A record without a sequence number can't be named: a null
            // identifier makes Lambda retry the whole batch.
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = sequence_number;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The approval whose decision `record` says was recorded but not delivered.
fn undelivered_decision(record: &EventRecord) -> Option<ApprovalId> {
    if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") {
        return None;
    }
    let image = serde_json::to_value(&record.change.new_image).ok()?;
    let status = image.pointer("/status/S").and_then(Value::as_str)?;
    let decided = [ApprovalStatus::Approved, ApprovalStatus::Rejected]
        .iter()
        .any(|s| s.as_str() == status);
    let delivered = image
        .pointer("/delivered/BOOL")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !decided || delivered {
        return None;
    }
    let keys = serde_json::to_value(&record.change.keys).ok()?;
    let id = keys.pointer("/approvalId/S").and_then(Value::as_str);
    match id.map(ApprovalId::parse) {
        Some(Ok(id)) => Some(id),
        // No retry makes a malformed key valid.
        _ => {
            tracing::warn!(sequence_number = ?record.change.sequence_number, "approvals stream record without a valid approval id; ignored");
            None
        }
    }
}

/// Redeliver approval `id`'s decision as the table has it now. `Ok` when it
/// was delivered or there is nothing left to deliver (delivered meanwhile,
/// pending, expired, replaced, forgotten); `Err` only for what a retry may
/// fix: Step Functions or DynamoDB unavailable, or an internal error (which
/// an operator must see once the retries are spent).
async fn redeliver_current(deps: &Deps, id: &ApprovalId) -> Result<(), Error> {
    let approval = match deps.approvals.get(id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Ok(()),
        Err(e) => {
            let e = Error::from(e);
            tracing::error!(approval = %id.fingerprint(), error = %error_chain(&e), "could not read an undelivered approval decision; the stream retries it");
            return Err(e);
        }
    };
    let order_id = &approval.order_id;
    let undelivered = approval.decision().is_some() && !approval.delivered;
    match redeliver(deps, &approval).await {
        Ok(()) if undelivered => {
            tracing::info!(%order_id, "approval decision redelivered from the approvals stream");
            Ok(())
        }
        Ok(()) => Ok(()),
        Err(e @ (Error::Unavailable(_) | Error::Internal(_))) => {
            tracing::error!(%order_id, approval = %id.fingerprint(), status = e.status(), error = %error_chain(&e), "approval decision not redelivered; the stream retries it");
            Err(e)
        }
        Err(e) => {
            tracing::info!(%order_id, status = e.status(), outcome = %e, "approval decision not redelivered: nothing left to deliver");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
