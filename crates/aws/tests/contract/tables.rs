//! The tables: `saga_aws::schema::TABLES` is what the contract tests create in
//! moto, and it must be the "Tables" section of `docs/contracts.md`, which
//! `tests/tests/workspace/infra.rs` (`tables_match_the_contract`) checks
//! against what Terraform creates: code, contract and Terraform stay linked.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_dynamodb::types::{KeyType, TimeToLiveStatus};
use saga_aws::TableName;
use saga_aws::schema::{KeyAttributeType, TABLES, schema};

use crate::support::Moto;

#[tokio::test]
async fn tables_created_from_the_schema_have_its_key_and_ttl_in_moto() {
    let moto = Moto::connect().await;
    let tables = moto.tables(&TableName::ALL).await;
    let client = moto.dynamodb();
    for t in TableName::ALL {
        let name = tables.name(t).unwrap();
        let desc = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let keys = desc.key_schema();
        assert_eq!(keys.len(), 1, "{name}: one partition key, no sort key");
        assert_eq!(keys[0].attribute_name(), schema(t).hash_key);
        assert_eq!(keys[0].key_type(), &KeyType::Hash);
        let attr = desc
            .attribute_definitions()
            .iter()
            .find(|a| a.attribute_name() == schema(t).hash_key)
            .unwrap();
        assert_eq!(
            attr.attribute_type().as_str(),
            schema(t).hash_key_type.as_str()
        );

        let ttl = client
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .time_to_live_description
            .unwrap();
        match schema(t).ttl_attribute {
            Some(attr) => {
                assert_eq!(ttl.attribute_name(), Some(attr), "{name}");
                assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
            }
            None => assert_ne!(
                ttl.time_to_live_status(),
                Some(&TimeToLiveStatus::Enabled),
                "{name} has no TTL"
            ),
        }
    }
}

/// The rows of the first markdown table under `## Tables` in `doc`: its
/// header and `table → (partition key, TTL attribute)`, backticks removed,
/// `–` meaning none.
fn contract_tables(doc: &str) -> (String, BTreeMap<String, (String, Option<String>)>) {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Tables\n"))
        .expect("docs/contracts.md has a \"## Tables\" section");
    let mut lines = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let header = lines
        .next()
        .expect("the Tables section has a table")
        .to_owned();
    let cells = |line: &str| -> Vec<String> {
        line.trim_matches('|')
            .split('|')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .collect()
    };
    let mut rows = BTreeMap::new();
    for line in lines.skip(1) {
        let [table, key, ttl] = cells(line).try_into().unwrap_or_else(|c| {
            panic!("a Tables row has three cells: {c:?}");
        });
        let ttl = (ttl != "–" && ttl != "-").then_some(ttl);
        assert!(
            rows.insert(table.clone(), (key, ttl)).is_none(),
            "{table} listed twice"
        );
    }
    (header, rows)
}

#[test]
fn the_schema_matches_the_tables_of_the_contract() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/contracts.md");
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let (header, contract) = contract_tables(&doc);
    assert_eq!(
        header,
        "| table | partition key (S) | TTL attribute (N, epoch seconds) |"
    );
    let expected: BTreeMap<String, (String, Option<String>)> = TABLES
        .iter()
        .map(|s| {
            assert_eq!(
                s.hash_key_type,
                KeyAttributeType::S,
                "{:?}: the contract lists string partition keys",
                s.table
            );
            let name = s.table.logical_name().trim_end_matches("_table").to_owned();
            (
                name,
                (s.hash_key.to_owned(), s.ttl_attribute.map(str::to_owned)),
            )
        })
        .collect();
    assert_eq!(
        contract, expected,
        "docs/contracts.md (Tables) and saga_aws::schema disagree"
    );
    assert_eq!(contract.len(), TableName::ALL.len());
}

#[test]
fn the_contract_table_reader_notices_a_difference() {
    let doc = "# C\n\n## Tables\n\n| table | partition key (S) | TTL attribute (N, epoch seconds) |\n\
               |---|---|---|\n| orders | `orderId` | – |\n| approvals | `approvalId` | `ttl` |\n\n\
               ## Next\n\n| a | b | c |\n|---|---|---|\n| x | y | z |\n";
    let (_, rows) = contract_tables(doc);
    assert_eq!(
        rows,
        BTreeMap::from([
            (
                "approvals".to_owned(),
                ("approvalId".to_owned(), Some("ttl".to_owned()))
            ),
            ("orders".to_owned(), ("orderId".to_owned(), None)),
        ])
    );
}
