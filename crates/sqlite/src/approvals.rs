//! Approvals (each decided once) and idempotency keys.

use async_trait::async_trait;
use rusqlite::{Connection, params};
use saga_core::approval::{Approval, ApprovalStatus, Decision};
use saga_core::ports::{
    ApprovalStore, Claim, DecideOutcome, IdempotencyRecord, IdempotencyStore, StoreError,
};
use saga_core::{ApprovalId, Timestamp};

use crate::{SqliteStore, execute, from_json, load_doc, query_opt, to_json};

fn load_approval(
    tx: &Connection,
    operation: &'static str,
    id: &str,
) -> Result<Option<Approval>, StoreError> {
    load_doc(
        tx,
        operation,
        "SELECT doc FROM approvals WHERE approval_id = ?1",
        id,
    )
}

fn save_approval(tx: &Connection, operation: &'static str, a: &Approval) -> Result<(), StoreError> {
    execute(
        tx,
        operation,
        "UPDATE approvals SET status = ?2, doc = ?3 WHERE approval_id = ?1",
        params![
            a.approval_id.as_str(),
            a.status.as_str(),
            to_json(operation, a)?
        ],
    )?;
    Ok(())
}

impl SqliteStore {
    /// Approvals decided at or before `decided_before` whose decision has not
    /// reached the workflow (its POST answered `503`, or the process died in
    /// between), oldest decision first, at most `limit`: what saga-local
    /// redelivers on its own. Rare rows, so the filter on the document is cheap.
    pub async fn undelivered_approvals(
        &self,
        decided_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError> {
        const OP: &str = "approvals.undelivered";
        let docs: Vec<String> = self
            .run(OP, move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT doc FROM approvals WHERE status IN (?1, ?2) \
                         AND json_extract(doc, '$.delivered') IS NOT 1",
                    )
                    .map_err(|e| crate::classify(OP, e))?;
                let rows = stmt
                    .query_map(
                        params![
                            ApprovalStatus::Approved.as_str(),
                            ApprovalStatus::Rejected.as_str()
                        ],
                        |r| r.get(0),
                    )
                    .map_err(|e| crate::classify(OP, e))?;
                rows.map(|r| r.map_err(|e| crate::classify(OP, e)))
                    .collect()
            })
            .await?;
        let mut out = docs
            .iter()
            .map(|d| from_json::<Approval>(OP, d))
            .filter(|a| {
                a.as_ref().map_or(true, |a| {
                    !a.delivered && a.decided_at.is_some_and(|t| t <= decided_before)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|a| a.decided_at);
        out.truncate(limit);
        Ok(out)
    }
}

#[async_trait]
impl ApprovalStore for SqliteStore {
    async fn create(&self, approval: &Approval) -> Result<(), StoreError> {
        const OP: &str = "approvals.create";
        let doc = to_json(OP, approval)?;
        let (id, order_id, status) = (
            approval.approval_id.to_string(),
            approval.order_id.to_string(),
            approval.status.as_str(),
        );
        self.write(OP, move |c| {
            let n = execute(
                c,
                OP,
                "INSERT OR IGNORE INTO approvals (approval_id, order_id, status, doc) VALUES (?1, ?2, ?3, ?4)",
                params![id, order_id, status, doc],
            )?;
            if n == 0 {
                return Err(StoreError::permanent(OP, "approval id collision"));
            }
            Ok(((), true))
        })
        .await
    }

    async fn get(&self, id: &ApprovalId) -> Result<Option<Approval>, StoreError> {
        self.read(|c| load_approval(c, "approvals.get", id.as_str()))
    }

    async fn decide(
        &self,
        id: &ApprovalId,
        decision: Decision,
        at: Timestamp,
    ) -> Result<DecideOutcome, StoreError> {
        const OP: &str = "approvals.decide";
        let id = id.to_string();
        self.write(OP, move |tx| {
            let Some(mut a) = load_approval(tx, OP, &id)? else {
                return Ok((DecideOutcome::NotFound, false));
            };
            if a.status != ApprovalStatus::Pending {
                return Ok((DecideOutcome::NotPending(Box::new(a)), false));
            }
            if a.is_expired_at(at) {
                return Ok((DecideOutcome::Expired(Box::new(a)), false));
            }
            a.status = decision.status();
            a.decided_at = Some(at);
            save_approval(tx, OP, &a)?;
            Ok((DecideOutcome::Decided(Box::new(a)), true))
        })
        .await
    }

    async fn mark_delivered(&self, id: &ApprovalId, decision: Decision) -> Result<(), StoreError> {
        const OP: &str = "approvals.mark_delivered";
        let id = id.to_string();
        self.write(OP, move |tx| {
            let Some(mut a) = load_approval(tx, OP, &id)? else {
                return Ok(((), false));
            };
            a.status = decision.status();
            a.delivered = true;
            save_approval(tx, OP, &a)?;
            Ok(((), true))
        })
        .await
    }

    async fn mark_expired(&self, id: &ApprovalId) -> Result<(), StoreError> {
        const OP: &str = "approvals.mark_expired";
        let id = id.to_string();
        self.write(OP, move |tx| {
            let Some(mut a) = load_approval(tx, OP, &id)? else {
                return Ok(((), false));
            };
            if a.delivered {
                return Ok(((), false));
            }
            a.status = ApprovalStatus::Expired;
            save_approval(tx, OP, &a)?;
            Ok(((), true))
        })
        .await
    }
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim(&self, record: &IdempotencyRecord, now: Timestamp) -> Result<Claim, StoreError> {
        const OP: &str = "idempotency.claim";
        let doc = to_json(OP, record)?;
        let (key, expires) = (record.key.to_string(), record.expires_at.as_millis());
        let now = now.as_millis();
        self.write(OP, move |tx| {
            let existing: Option<(i64, String)> = query_opt(
                tx,
                OP,
                "SELECT expires_at_ms, doc FROM idempotency WHERE key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if let Some((exp, existing)) = existing
                && exp > now
            {
                return Ok((Claim::Existing(from_json(OP, &existing)?), false));
            }
            execute(
                tx,
                OP,
                "INSERT INTO idempotency (key, expires_at_ms, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET expires_at_ms = excluded.expires_at_ms, doc = excluded.doc",
                params![key, expires, doc],
            )?;
            Ok((Claim::Claimed, true))
        })
        .await
    }
}
