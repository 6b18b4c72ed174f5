//! ARNs in AWS's format, in saga-local's one fixed region and account (the
//! engine's [`asl::EngineConfig`] defaults: `us-east-1`, `000000000000`).

use super::protocol::ApiError;

/// Region and account of every ARN the API hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arns {
    pub region: String,
    pub account: String,
}

impl Arns {
    pub fn new(config: &asl::EngineConfig) -> Self {
        Self {
            region: config.region.clone(),
            account: config.account_id.clone(),
        }
    }

    pub fn state_machine(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            self.region, self.account
        )
    }

    pub fn execution(&self, machine: &str, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:execution:{machine}:{name}",
            self.region, self.account
        )
    }

    /// The name in a state machine ARN and the Step Functions Local test
    /// case after its `#`, if any. A well-formed ARN of another region or
    /// account names no state machine here: `StateMachineDoesNotExist`.
    pub fn parse_state_machine<'a>(
        &self,
        arn: &'a str,
    ) -> Result<(&'a str, Option<&'a str>), ApiError> {
        let (base, test_case) = match arn.split_once('#') {
            Some((b, t)) => (b, Some(t)),
            None => (arn, None),
        };
        let [region, account, name] = split(base, "stateMachine")?;
        if name.is_empty() || name.contains(':') {
            return Err(ApiError::invalid_arn(arn));
        }
        if region != self.region || account != self.account {
            return Err(does_not_exist(arn));
        }
        Ok((name, test_case))
    }

    /// The state machine name and execution name of an execution ARN.
    pub fn parse_execution<'a>(&self, arn: &'a str) -> Result<(&'a str, &'a str), ApiError> {
        let [region, account, rest] = split(arn, "execution")?;
        let Some((machine, name)) = rest.split_once(':') else {
            return Err(ApiError::invalid_arn(arn));
        };
        if machine.is_empty() || name.is_empty() {
            return Err(ApiError::invalid_arn(arn));
        }
        if region != self.region || account != self.account {
            return Err(ApiError::new(
                "ExecutionDoesNotExist",
                format!("Execution Does Not Exist: '{arn}'"),
            ));
        }
        Ok((machine, name))
    }
}

/// `arn:aws:states:<region>:<account>:<kind>:<rest>`.
fn split<'a>(arn: &'a str, kind: &str) -> Result<[&'a str; 3], ApiError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", "aws", "states", region, account, rest] => {
            let Some(rest) = rest.strip_prefix(kind).and_then(|r| r.strip_prefix(':')) else {
                return Err(ApiError::invalid_arn(arn));
            };
            Ok([region, account, rest])
        }
        _ => Err(ApiError::invalid_arn(arn)),
    }
}

pub fn does_not_exist(arn: &str) -> ApiError {
    ApiError::new(
        "StateMachineDoesNotExist",
        format!("State Machine Does Not Exist: '{arn}'"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arns() -> Arns {
        Arns::new(&asl::EngineConfig::default())
    }

    #[test]
    fn state_machine_arns_with_and_without_a_test_case() {
        let a = arns();
        let arn = a.state_machine("sm");
        assert_eq!(arn, "arn:aws:states:us-east-1:000000000000:stateMachine:sm");
        assert_eq!(a.parse_state_machine(&arn).unwrap(), ("sm", None));
        assert_eq!(
            a.parse_state_machine(&format!("{arn}#HappyPath")).unwrap(),
            ("sm", Some("HappyPath"))
        );
        assert_eq!(
            a.parse_state_machine("nope").unwrap_err().code,
            "InvalidArn"
        );
        assert_eq!(
            a.parse_state_machine("arn:aws:states:eu-west-1:000000000000:stateMachine:sm")
                .unwrap_err()
                .code,
            "StateMachineDoesNotExist"
        );
        assert_eq!(
            a.parse_state_machine(&a.execution("sm", "e"))
                .unwrap_err()
                .code,
            "InvalidArn"
        );
    }

    #[test]
    fn execution_arns() {
        let a = arns();
        assert_eq!(
            a.parse_execution(&a.execution("sm", "e-1")).unwrap(),
            ("sm", "e-1")
        );
        assert_eq!(
            a.parse_execution(&a.state_machine("sm")).unwrap_err().code,
            "InvalidArn"
        );
    }
}
