//! The tables: `saga_aws::schema::TABLES` is what the contract tests create in
//! moto, and it must be what Terraform creates (`infra/dynamodb.tf`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::types::{KeyType, TimeToLiveStatus};
use hcl::{Block, Body, Expression, ObjectKey};
use saga_aws::TableName;
use saga_aws::schema::{TABLES, schema};

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

/// What Terraform declares for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TfTable {
    hash_key: String,
    hash_key_type: String,
    ttl_attribute: Option<String>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn string(expr: &Expression) -> Option<String> {
    match expr {
        Expression::String(s) => Some(s.clone()),
        Expression::TemplateExpr(t) => Some(t.to_string().trim_matches('"').to_owned()),
        _ => None,
    }
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.blocks().filter(move |b| b.identifier() == ident)
}

fn label(block: &Block, i: usize) -> Option<&str> {
    block.labels().get(i).map(|l| l.as_str())
}

/// Which table a Terraform key or resource name means (`orders`, `orders_table`…).
fn table_of(name: &str) -> Option<TableName> {
    TableName::ALL.into_iter().find(|t| {
        let logical = t.logical_name();
        let short = logical.trim_end_matches("_table");
        name == logical || name == short || name.ends_with(&format!("-{short}"))
    })
}

/// `attribute { name, type }` of the hash key, and the TTL attribute, of one
/// `aws_dynamodb_table` body, with `each.value.X` resolved through `each`.
fn table_from_body(
    body: &Body,
    each: Option<&BTreeMap<String, Expression>>,
) -> Result<TfTable, String> {
    let resolve_text = |text: &str| -> Result<Option<String>, String> {
        let field = text
            .strip_prefix("each.value.")
            .ok_or_else(|| format!("can't evaluate {text}"))?;
        let value = each
            .and_then(|e| e.get(field))
            .ok_or_else(|| format!("{text}: no such field in the for_each map"))?;
        match value {
            Expression::Null => Ok(None),
            v => string(v)
                .map(Some)
                .ok_or_else(|| format!("{text} is not a string")),
        }
    };
    let resolve = |expr: &Expression| -> Result<Option<String>, String> {
        match expr {
            Expression::Null => Ok(None),
            e => match string(e) {
                Some(s) => Ok(Some(s)),
                None => resolve_text(&e.to_string()),
            },
        }
    };
    let hash_key = resolve(attr(body, "hash_key").ok_or("no hash_key")?)?.ok_or("null hash_key")?;
    let attribute = blocks(body, "attribute")
        .find(|b| {
            attr(b.body(), "name")
                .and_then(|e| resolve(e).ok().flatten())
                .is_some_and(|n| n == hash_key)
        })
        .ok_or_else(|| format!("no attribute block for the hash key {hash_key}"))?;
    let hash_key_type = resolve(attr(attribute.body(), "type").ok_or("attribute without type")?)?
        .ok_or("null attribute type")?;

    // A static `ttl { attribute_name, enabled }`, or the usual
    // `dynamic "ttl" { for_each = X == null ? [] : [X]; content { attribute_name = ttl.value } }`.
    let mut ttl_attribute = None;
    for ttl in blocks(body, "ttl") {
        let enabled = attr(ttl.body(), "enabled").is_none_or(|e| e.to_string() == "true");
        if enabled {
            ttl_attribute = attr(ttl.body(), "attribute_name")
                .map(&resolve)
                .transpose()?
                .flatten();
        }
    }
    for dynamic in blocks(body, "dynamic").filter(|b| label(b, 0) == Some("ttl")) {
        let for_each = attr(dynamic.body(), "for_each")
            .ok_or("dynamic ttl without for_each")?
            .to_string();
        let source = for_each
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .find(|w| w.starts_with("each.value."))
            .ok_or_else(|| format!("dynamic ttl for_each {for_each} names no each.value field"))?;
        let content = blocks(dynamic.body(), "content")
            .next()
            .ok_or("dynamic ttl without content")?;
        let name = attr(content.body(), "attribute_name")
            .ok_or("dynamic ttl content without attribute_name")?
            .to_string();
        if name != "ttl.value" {
            return Err(format!(
                "dynamic ttl content attribute_name = {name}, expected ttl.value"
            ));
        }
        ttl_attribute = resolve_text(source)?;
    }
    Ok(TfTable {
        hash_key,
        hash_key_type,
        ttl_attribute,
    })
}

/// Every table Terraform creates, from all `infra/*.tf` files.
fn terraform_tables(infra: &Path) -> Result<BTreeMap<TableName, TfTable>, String> {
    let mut bodies = Vec::new();
    for entry in std::fs::read_dir(infra).map_err(|e| format!("{}: {e}", infra.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "tf") {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            let body = hcl::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            bodies.push(body);
        }
    }
    let locals: BTreeMap<String, Expression> = bodies
        .iter()
        .flat_map(|b| blocks(b, "locals"))
        .flat_map(|l| l.body().attributes())
        .map(|a| (a.key().to_owned(), a.expr().clone()))
        .collect();
    let object = |expr: &Expression| -> Option<BTreeMap<String, Expression>> {
        match expr {
            Expression::Object(o) => Some(
                o.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            ObjectKey::Identifier(i) => i.to_string(),
                            ObjectKey::Expression(e) => string(e).unwrap_or_else(|| e.to_string()),
                            _ => k.to_string(),
                        };
                        (key, v.clone())
                    })
                    .collect(),
            ),
            _ => None,
        }
    };

    let mut found = BTreeMap::new();
    for resource in bodies.iter().flat_map(|b| blocks(b, "resource")) {
        if label(resource, 0) != Some("aws_dynamodb_table") {
            continue;
        }
        let body = resource.body();
        match attr(body, "for_each") {
            Some(for_each) => {
                let text = for_each.to_string();
                let map = match text.strip_prefix("local.") {
                    Some(name) => locals
                        .get(name)
                        .and_then(object)
                        .ok_or_else(|| format!("for_each = {text}: no such local object"))?,
                    None => object(for_each)
                        .ok_or_else(|| format!("can't evaluate for_each = {text}"))?,
                };
                for (key, value) in map {
                    let table = table_of(&key).ok_or_else(|| format!("unknown table key {key}"))?;
                    let each = object(&value).ok_or_else(|| format!("{key} is not an object"))?;
                    let t =
                        table_from_body(body, Some(&each)).map_err(|e| format!("{key}: {e}"))?;
                    found.insert(table, t);
                }
            }
            None => {
                let name = label(resource, 1).unwrap_or_default();
                let table = table_of(name)
                    .or_else(|| {
                        attr(body, "name")
                            .and_then(string)
                            .and_then(|n| table_of(&n))
                    })
                    .ok_or_else(|| {
                        format!("can't tell which table aws_dynamodb_table.{name} is")
                    })?;
                found.insert(
                    table,
                    table_from_body(body, None).map_err(|e| format!("{name}: {e}"))?,
                );
            }
        }
    }
    Ok(found)
}

#[test]
fn the_schema_matches_the_terraform_tables() {
    let infra = repo_root().join("infra");
    let dynamodb_tf = infra.join("dynamodb.tf");
    assert!(
        dynamodb_tf.is_file(),
        "{} is missing: the table schema can't be cross-checked with Terraform",
        dynamodb_tf.display()
    );
    let terraform = terraform_tables(&infra).unwrap_or_else(|e| panic!("reading infra/*.tf: {e}"));
    for s in TABLES {
        let tf = terraform
            .get(&s.table)
            .unwrap_or_else(|| panic!("infra/ declares no DynamoDB table for {:?}", s.table));
        assert_eq!(
            tf,
            &TfTable {
                hash_key: s.hash_key.to_owned(),
                hash_key_type: s.hash_key_type.as_str().to_owned(),
                ttl_attribute: s.ttl_attribute.map(str::to_owned),
            },
            "{:?}: Terraform and saga_aws::schema disagree",
            s.table
        );
    }
    assert_eq!(
        terraform.len(),
        TABLES.len(),
        "Terraform declares tables saga_aws::schema doesn't know"
    );
}

#[test]
fn the_cross_check_reads_literal_tables_too_and_notices_a_difference() {
    let body = hcl::parse(
        r#"
        resource "aws_dynamodb_table" "orders" {
          name     = "saga-orders"
          hash_key = "orderId"
          attribute {
            name = "orderId"
            type = "S"
          }
        }
        resource "aws_dynamodb_table" "approvals" {
          name     = "saga-approvals"
          hash_key = "id"
          attribute {
            name = "id"
            type = "S"
          }
          ttl {
            attribute_name = "expires"
            enabled        = true
          }
        }
        "#,
    )
    .unwrap();
    let dir = std::env::temp_dir().join(crate::support::unique("tf"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dynamodb.tf"), hcl::to_string(&body).unwrap()).unwrap();
    let tables = terraform_tables(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(tables[&TableName::Orders].hash_key, "orderId");
    assert_eq!(tables[&TableName::Orders].ttl_attribute, None);
    assert_ne!(
        tables[&TableName::Approvals].hash_key,
        schema(TableName::Approvals).hash_key,
        "a different key must show up as a difference"
    );
    assert_eq!(
        tables[&TableName::Approvals].ttl_attribute.as_deref(),
        Some("expires")
    );
}
