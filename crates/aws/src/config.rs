//! Configuration from the environment: table names, topic ARNs, the state
//! machine ARN. Each function reads only what it needs and gets a typed error
//! naming the missing variable; nothing here panics.

use saga_core::ports::Topic;

/// A configuration value is missing or unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// The four tables of `docs/contracts.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableName {
    Products,
    Orders,
    Approvals,
    Idempotency,
}

impl TableName {
    pub const ALL: [TableName; 4] = [
        Self::Products,
        Self::Orders,
        Self::Approvals,
        Self::Idempotency,
    ];

    /// The environment variable holding the table's name.
    pub const fn env_var(self) -> &'static str {
        match self {
            Self::Products => "PRODUCTS_TABLE",
            Self::Orders => "ORDERS_TABLE",
            Self::Approvals => "APPROVALS_TABLE",
            Self::Idempotency => "IDEMPOTENCY_TABLE",
        }
    }

    /// The logical resource name used in `functions/<fn>/aws-permissions.json`
    /// and Terraform (`orders_table`, …).
    pub const fn logical_name(self) -> &'static str {
        match self {
            Self::Products => "products_table",
            Self::Orders => "orders_table",
            Self::Approvals => "approvals_table",
            Self::Idempotency => "idempotency_table",
        }
    }
}

/// Read a required, non-empty variable through `lookup`.
fn required(
    var: &'static str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    match lookup(var) {
        None => Err(ConfigError::Missing(var)),
        Some(v) if v.trim().is_empty() => Err(ConfigError::Invalid {
            var,
            reason: "is empty".into(),
        }),
        Some(v) => Ok(v.trim().to_owned()),
    }
}

fn env_lookup(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// Table names. A table that is not configured can't be used: an operation on
/// it fails with a permanent error naming its environment variable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tables {
    products: Option<String>,
    orders: Option<String>,
    approvals: Option<String>,
    idempotency: Option<String>,
}

impl Tables {
    /// No table configured; add them with [`Tables::with`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Read the `required` tables from the environment (`ORDERS_TABLE`, …).
    pub fn from_env(required: &[TableName]) -> Result<Self, ConfigError> {
        Self::from_lookup(required, env_lookup)
    }

    /// Like [`Tables::from_env`] with another source of variables (tests).
    pub fn from_lookup(
        required_tables: &[TableName],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut tables = Self::new();
        for table in required_tables {
            let name = required(table.env_var(), &lookup)?;
            validate_table_name(table.env_var(), &name)?;
            tables = tables.with(*table, name);
        }
        Ok(tables)
    }

    /// These tables plus `table` named `name`.
    pub fn with(mut self, table: TableName, name: impl Into<String>) -> Self {
        let slot = match table {
            TableName::Products => &mut self.products,
            TableName::Orders => &mut self.orders,
            TableName::Approvals => &mut self.approvals,
            TableName::Idempotency => &mut self.idempotency,
        };
        *slot = Some(name.into());
        self
    }

    /// The name of `table`, if configured.
    pub fn name(&self, table: TableName) -> Option<&str> {
        match table {
            TableName::Products => self.products.as_deref(),
            TableName::Orders => self.orders.as_deref(),
            TableName::Approvals => self.approvals.as_deref(),
            TableName::Idempotency => self.idempotency.as_deref(),
        }
    }

    /// Which configured table (if any) is called `name`.
    pub fn table_named(&self, name: &str) -> Option<TableName> {
        TableName::ALL
            .into_iter()
            .find(|t| self.name(*t) == Some(name))
    }
}

/// DynamoDB table names: 3–255 characters of `[A-Za-z0-9_.-]`.
fn validate_table_name(var: &'static str, name: &str) -> Result<(), ConfigError> {
    let ok = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var,
            reason: "a DynamoDB table name is 3 to 255 characters of A-Z a-z 0-9 _ . -".into(),
        })
    }
}

fn validate_arn(var: &'static str, arn: &str, service: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == service && !parts[5].is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var,
            reason: format!("expected an ARN like arn:aws:{service}:region:account:name"),
        })
    }
}

/// The environment variable holding a topic's ARN.
pub const fn topic_env_var(topic: Topic) -> &'static str {
    match topic {
        Topic::Approvals => "APPROVALS_TOPIC_ARN",
        Topic::Notifications => "NOTIFICATIONS_TOPIC_ARN",
        Topic::Alerts => "ALERTS_TOPIC_ARN",
    }
}

/// The logical resource name of a topic in `aws-permissions.json`.
pub const fn topic_logical_name(topic: Topic) -> &'static str {
    match topic {
        Topic::Approvals => "approvals_topic",
        Topic::Notifications => "notifications_topic",
        Topic::Alerts => "alerts_topic",
    }
}

/// SNS topic ARNs, each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicArns {
    approvals: Option<String>,
    notifications: Option<String>,
    alerts: Option<String>,
}

impl TopicArns {
    pub fn new() -> Self {
        Self::default()
    }

    /// Read the `required` topics from the environment (`APPROVALS_TOPIC_ARN`, …).
    pub fn from_env(required: &[Topic]) -> Result<Self, ConfigError> {
        Self::from_lookup(required, env_lookup)
    }

    pub fn from_lookup(
        required_topics: &[Topic],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut topics = Self::new();
        for topic in required_topics {
            let var = topic_env_var(*topic);
            let arn = required(var, &lookup)?;
            validate_arn(var, &arn, "sns")?;
            topics = topics.with(*topic, arn);
        }
        Ok(topics)
    }

    pub fn with(mut self, topic: Topic, arn: impl Into<String>) -> Self {
        let slot = match topic {
            Topic::Approvals => &mut self.approvals,
            Topic::Notifications => &mut self.notifications,
            Topic::Alerts => &mut self.alerts,
        };
        *slot = Some(arn.into());
        self
    }

    pub fn arn(&self, topic: Topic) -> Option<&str> {
        match topic {
            Topic::Approvals => self.approvals.as_deref(),
            Topic::Notifications => self.notifications.as_deref(),
            Topic::Alerts => self.alerts.as_deref(),
        }
    }
}

/// The environment variable holding the order saga's ARN.
pub const STATE_MACHINE_ARN_VAR: &str = "STATE_MACHINE_ARN";

/// The state machine ARN from `STATE_MACHINE_ARN`.
pub fn state_machine_arn_from_env() -> Result<String, ConfigError> {
    state_machine_arn_from_lookup(env_lookup)
}

pub fn state_machine_arn_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let arn = required(STATE_MACHINE_ARN_VAR, &lookup)?;
    validate_arn(STATE_MACHINE_ARN_VAR, &arn, "states")?;
    Ok(arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn reads_only_the_required_tables_and_names_a_missing_one() {
        let tables = Tables::from_lookup(
            &[TableName::Orders],
            vars(&[("ORDERS_TABLE", "saga-orders")]),
        )
        .unwrap();
        assert_eq!(tables.name(TableName::Orders), Some("saga-orders"));
        assert_eq!(tables.name(TableName::Products), None);

        let err = Tables::from_lookup(
            &[TableName::Orders, TableName::Products],
            vars(&[("ORDERS_TABLE", "saga-orders")]),
        )
        .unwrap_err();
        assert_eq!(err, ConfigError::Missing("PRODUCTS_TABLE"));
        assert_eq!(
            err.to_string(),
            "environment variable PRODUCTS_TABLE is not set"
        );
    }

    #[test]
    fn empty_or_malformed_values_are_refused() {
        let err =
            Tables::from_lookup(&[TableName::Orders], vars(&[("ORDERS_TABLE", " ")])).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                var: "ORDERS_TABLE",
                ..
            }
        ));
        let err = Tables::from_lookup(&[TableName::Orders], vars(&[("ORDERS_TABLE", "a b")]))
            .unwrap_err();
        assert!(err.to_string().contains("ORDERS_TABLE"), "{err}");

        let err = TopicArns::from_lookup(
            &[Topic::Approvals],
            vars(&[("APPROVALS_TOPIC_ARN", "approvals")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("APPROVALS_TOPIC_ARN"), "{err}");
        let err = state_machine_arn_from_lookup(vars(&[(
            "STATE_MACHINE_ARN",
            "arn:aws:sns:us-east-1:123456789012:t",
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("STATE_MACHINE_ARN"), "{err}");
    }

    #[test]
    fn arns_are_read_and_kept() {
        let arn = "arn:aws:sns:eu-west-1:123456789012:saga-approvals";
        let topics =
            TopicArns::from_lookup(&[Topic::Approvals], vars(&[("APPROVALS_TOPIC_ARN", arn)]))
                .unwrap();
        assert_eq!(topics.arn(Topic::Approvals), Some(arn));
        assert_eq!(topics.arn(Topic::Alerts), None);
        let sm = "arn:aws:states:eu-west-1:123456789012:stateMachine:order-saga";
        assert_eq!(
            state_machine_arn_from_lookup(vars(&[("STATE_MACHINE_ARN", sm)])).unwrap(),
            sm
        );
        assert_eq!(
            state_machine_arn_from_lookup(vars(&[])).unwrap_err(),
            ConfigError::Missing("STATE_MACHINE_ARN")
        );
    }
}
