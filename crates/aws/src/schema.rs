//! The tables' key schema and TTL attribute, described once. Contract tests
//! create their moto tables from [`TABLES`] and check it against the "Tables"
//! section of `docs/contracts.md`, which the workspace tests check against
//! `infra/dynamodb.tf`: the code, the tests and Terraform agree.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

use crate::config::TableName;

/// DynamoDB scalar types of key attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAttributeType {
    S,
    N,
}

impl KeyAttributeType {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::S => "S",
            Self::N => "N",
        }
    }
}

/// One table: partition key (no sort keys in this design) and TTL attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSchema {
    pub table: TableName,
    pub hash_key: &'static str,
    pub hash_key_type: KeyAttributeType,
    /// Epoch seconds (N) after which DynamoDB may delete the item.
    pub ttl_attribute: Option<&'static str>,
}

/// The four tables of `docs/contracts.md`.
pub const TABLES: [TableSchema; 4] = [
    TableSchema {
        table: TableName::Products,
        hash_key: "sku",
        hash_key_type: KeyAttributeType::S,
        ttl_attribute: None,
    },
    TableSchema {
        table: TableName::Orders,
        hash_key: "orderId",
        hash_key_type: KeyAttributeType::S,
        ttl_attribute: None,
    },
    TableSchema {
        table: TableName::Approvals,
        hash_key: "approvalId",
        hash_key_type: KeyAttributeType::S,
        ttl_attribute: Some(crate::items::TTL),
    },
    TableSchema {
        table: TableName::Idempotency,
        hash_key: crate::items::IDEMPOTENCY_KEY,
        hash_key_type: KeyAttributeType::S,
        ttl_attribute: Some(crate::items::TTL),
    },
];

/// The schema of `table`.
pub fn schema(table: TableName) -> &'static TableSchema {
    match table {
        TableName::Products => &TABLES[0],
        TableName::Orders => &TABLES[1],
        TableName::Approvals => &TABLES[2],
        TableName::Idempotency => &TABLES[3],
    }
}

/// Create a table named `name` with `schema` (on-demand billing) and enable its
/// TTL. For tests and local tooling; production tables come from Terraform.
pub async fn create_table(
    client: &Client,
    schema: &TableSchema,
    name: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    let key_type = match schema.hash_key_type {
        KeyAttributeType::S => ScalarAttributeType::S,
        KeyAttributeType::N => ScalarAttributeType::N,
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(schema.hash_key)
                .attribute_type(key_type)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(schema.hash_key)
                .key_type(KeyType::Hash)
                .build()?,
        )
        .send()
        .await?;
    if let Some(ttl) = schema.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_described_once_as_in_the_contract() {
        for t in TableName::ALL {
            assert_eq!(schema(t).table, t);
        }
        let summary: Vec<_> = TABLES
            .iter()
            .map(|t| (t.table.env_var(), t.hash_key, t.ttl_attribute))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("PRODUCTS_TABLE", "sku", None),
                ("ORDERS_TABLE", "orderId", None),
                ("APPROVALS_TABLE", "approvalId", Some("ttl")),
                ("IDEMPOTENCY_TABLE", "idempotencyKey", Some("ttl")),
            ]
        );
    }
}
