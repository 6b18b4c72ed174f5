//! State machine actions: Create / Describe / List / Update / Delete /
//! ValidateStateMachineDefinition. The machines live in the
//! `sfn_state_machines` table; the order saga is built in (listed first,
//! never updated or deleted).

use asl::{Problem, StateMachine};
use saga_sqlite::StateMachineRow;
use serde_json::{Value, json};

use super::arn::does_not_exist;
use super::protocol::{ApiError, Request, check_name, epoch_ms, page_key, page_token};
use super::{SAGA_ROLE_ARN, SfnApi};

/// `STANDARD` or `EXPRESS` (`type`, default `STANDARD`).
fn machine_type(req: &Request) -> Result<&str, ApiError> {
    match req.opt_str("type")?.unwrap_or("STANDARD") {
        t @ ("STANDARD" | "EXPRESS") => Ok(t),
        other => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
        ))),
    }
}

/// A definition the engine runs, or `InvalidDefinition` naming every
/// problem as AWS words it (`SCHEMA_VALIDATION_FAILED: … at /States/…`).
pub fn parse_definition(text: &str) -> Result<StateMachine, ApiError> {
    StateMachine::parse(text).map_err(|problems| invalid_definition(text, &problems))
}

/// `InvalidDefinition` for the engine's problems with `text`.
pub(super) fn invalid_definition(text: &str, problems: &[Problem]) -> ApiError {
    let list: Vec<String> = diagnostics(text, problems)
        .iter()
        .map(|d| {
            format!(
                "{}: {} at {}",
                d["code"].as_str().unwrap_or_default(),
                d["message"].as_str().unwrap_or_default(),
                d["location"].as_str().unwrap_or("/")
            )
        })
        .collect();
    ApiError::new(
        "InvalidDefinition",
        format!("Invalid State Machine Definition: '{}'", list.join(", ")),
    )
}

/// `ValidateStateMachineDefinition` diagnostics for the engine's problems.
fn diagnostics(text: &str, problems: &[Problem]) -> Vec<Value> {
    let code = if serde_json::from_str::<Value>(text).is_err() {
        "INVALID_JSON_DESCRIPTION"
    } else {
        "SCHEMA_VALIDATION_FAILED"
    };
    problems
        .iter()
        .map(|p| {
            let location = if p.pointer.is_empty() {
                "/"
            } else {
                &p.pointer
            };
            json!({"severity": "ERROR", "code": code, "message": p.message, "location": location})
        })
        .collect()
}

fn describe(row: &StateMachineRow) -> Value {
    json!({
        "stateMachineArn": row.arn,
        "name": row.name,
        "status": "ACTIVE",
        "definition": row.definition,
        "roleArn": row.role_arn,
        "type": row.machine_type,
        "creationDate": epoch_ms(row.created_at_ms),
        "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
        "tracingConfiguration": {"enabled": false},
        "revisionId": row.revision.to_string(),
    })
}

impl SfnApi {
    /// The saga as a row (what Describe and List show of it).
    fn saga_row(&self) -> Option<StateMachineRow> {
        let saga = self.saga.as_ref()?;
        Some(StateMachineRow {
            arn: self.arns.state_machine(saga.machine.name()),
            name: saga.machine.name().to_owned(),
            machine_type: "STANDARD".into(),
            definition: saga.machine.definition().to_string(),
            role_arn: SAGA_ROLE_ARN.into(),
            created_at_ms: saga.started_ms,
            updated_at_ms: saga.started_ms,
            revision: 1,
        })
    }

    /// The state machine an ARN names, with its test case, or
    /// `StateMachineDoesNotExist`.
    pub(super) async fn machine_row(
        &self,
        arn: &str,
    ) -> Result<(StateMachineRow, Option<String>), ApiError> {
        let (name, test_case) = self.arns.parse_state_machine(arn)?;
        let test_case = test_case.map(str::to_owned);
        if let Some(saga) = self.saga_row().filter(|s| s.name == name) {
            return Ok((saga, test_case));
        }
        let base = self.arns.state_machine(name);
        match self.store.state_machine(&base).await? {
            Some(row) => Ok((row, test_case)),
            None => Err(does_not_exist(arn)),
        }
    }

    pub(super) async fn create_state_machine(&self, req: &Request) -> Result<Value, ApiError> {
        let name = req.str("name")?;
        let definition = req.str("definition")?;
        let role_arn = req.str("roleArn")?;
        let machine_type = machine_type(req)?;
        check_name(name)?;
        parse_definition(definition)?;
        let now = chrono::Utc::now().timestamp_millis();
        let row = StateMachineRow {
            arn: self.arns.state_machine(name),
            name: name.to_owned(),
            machine_type: machine_type.to_owned(),
            definition: definition.to_owned(),
            role_arn: role_arn.to_owned(),
            created_at_ms: now,
            updated_at_ms: now,
            revision: 1,
        };
        let existing = match self.saga_row().filter(|s| s.name == name) {
            Some(saga) => Some(saga),
            None if self.store.insert_state_machine(row.clone()).await? => None,
            None => self.store.state_machine(&row.arn).await?,
        };
        match existing {
            None => Ok(json!({"stateMachineArn": row.arn, "creationDate": epoch_ms(now)})),
            // Idempotent as in AWS: the same request again is the same machine.
            Some(e)
                if e.definition == row.definition
                    && e.role_arn == row.role_arn
                    && e.machine_type == row.machine_type =>
            {
                Ok(json!({"stateMachineArn": e.arn, "creationDate": epoch_ms(e.created_at_ms)}))
            }
            Some(e) => Err(ApiError::new(
                "StateMachineAlreadyExists",
                format!("State Machine Already Exists: '{}'", e.arn),
            )),
        }
    }

    pub(super) async fn describe_state_machine(&self, req: &Request) -> Result<Value, ApiError> {
        let (row, _) = self.machine_row(req.str("stateMachineArn")?).await?;
        Ok(describe(&row))
    }

    pub(super) async fn list_state_machines(&self, req: &Request) -> Result<Value, ApiError> {
        let max = req.max_results(100)?;
        let after = req
            .opt_str("nextToken")?
            .map(|t| page_key("machines", t))
            .transpose()?;
        let mut rows: Vec<StateMachineRow> = self.saga_row().into_iter().collect();
        rows.extend(self.store.state_machines().await?);
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        let rest: Vec<&StateMachineRow> = rows
            .iter()
            .filter(|r| after.as_deref().is_none_or(|a| r.name.as_str() > a))
            .collect();
        let page: Vec<Value> = rest
            .iter()
            .take(max)
            .map(|r| {
                json!({"stateMachineArn": r.arn, "name": r.name, "type": r.machine_type, "creationDate": epoch_ms(r.created_at_ms)})
            })
            .collect();
        let mut answer = json!({"stateMachines": page});
        if rest.len() > max {
            answer["nextToken"] = Value::String(page_token("machines", &rest[max - 1].name));
        }
        Ok(answer)
    }

    pub(super) async fn update_state_machine(&self, req: &Request) -> Result<Value, ApiError> {
        let arn = req.str("stateMachineArn")?;
        let definition = req.opt_str("definition")?;
        let role_arn = req.opt_str("roleArn")?;
        if definition.is_none()
            && role_arn.is_none()
            && !req.has("loggingConfiguration")
            && !req.has("tracingConfiguration")
        {
            return Err(ApiError::new(
                "MissingRequiredParameter",
                "Either the definition, the roleArn, the loggingConfiguration or the tracingConfiguration must be specified",
            ));
        }
        let (row, _) = self.machine_row(arn).await?;
        if self.saga_row().is_some_and(|s| s.arn == row.arn) {
            return Err(ApiError::validation(
                "the order saga is built into saga-local serve (--definition runs another file); it cannot be updated through the API",
            ));
        }
        if let Some(d) = definition {
            parse_definition(d)?;
        }
        let now = chrono::Utc::now().timestamp_millis();
        let definition = definition.unwrap_or(&row.definition);
        let role_arn = role_arn.unwrap_or(&row.role_arn);
        if !self
            .store
            .update_state_machine(&row.arn, definition, role_arn, now)
            .await?
        {
            return Err(does_not_exist(arn));
        }
        Ok(json!({"updateDate": epoch_ms(now), "revisionId": (row.revision + 1).to_string()}))
    }

    /// AWS deletes asynchronously and answers success for a machine that is
    /// already gone; running executions go on.
    pub(super) async fn delete_state_machine(&self, req: &Request) -> Result<Value, ApiError> {
        let arn = req.str("stateMachineArn")?;
        let (name, _) = self.arns.parse_state_machine(arn).or_else(|e| {
            if e.code == "StateMachineDoesNotExist" {
                Ok(("", None))
            } else {
                Err(e)
            }
        })?;
        if self.saga_row().is_some_and(|s| s.name == name) {
            return Err(ApiError::validation(
                "the order saga is built into saga-local serve; it cannot be deleted",
            ));
        }
        if !name.is_empty() {
            self.store
                .delete_state_machine(&self.arns.state_machine(name))
                .await?;
        }
        Ok(json!({}))
    }

    pub(super) fn validate_definition(req: &Request) -> Result<Value, ApiError> {
        let text = req.str("definition")?;
        machine_type(req)?;
        let diagnostics = match StateMachine::parse(text) {
            Ok(_) => Vec::new(),
            Err(problems) => diagnostics(text, &problems),
        };
        let max = req.max_results(100)?;
        let truncated = diagnostics.len() > max;
        let result = if diagnostics.is_empty() { "OK" } else { "FAIL" };
        let shown: Vec<Value> = diagnostics.into_iter().take(max).collect();
        Ok(json!({"result": result, "diagnostics": shown, "truncated": truncated}))
    }
}
