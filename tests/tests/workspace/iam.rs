//! What only AWS would have refused: IAM and configuration that `terraform
//! validate` accepts but a deploy, or the first approval, would not.
//!
//! `infra.rs` proves the roles grant exactly what `functions/*/aws-permissions.json`
//! lists; these tests pin the entries of those lists AWS is particular about,
//! and the partition-neutral ARNs and principals.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use saga_tests::workspace_root;

fn permissions(function: &str) -> BTreeMap<String, Vec<String>> {
    let path = workspace_root()
        .join("functions")
        .join(function)
        .join("aws-permissions.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lines of the `.tf` files of infra/ that are not comments: (file, line number, text).
fn terraform_code_lines() -> Vec<(String, usize, String)> {
    let dir = workspace_root().join("infra");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tf"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = Path::new("infra").join(path.file_name().unwrap());
        for (i, line) in fs::read_to_string(&path).unwrap().lines().enumerate() {
            let code = line.trim_start();
            if !code.starts_with('#') && !code.starts_with("//") {
                out.push((name.display().to_string(), i + 1, line.to_owned()));
            }
        }
    }
    out
}

/// `states:SendTaskSuccess`, `SendTaskFailure` and `SendTaskHeartbeat` support no
/// resource-level permissions: IAM matches them only against `Resource: "*"`, so
/// a grant scoped to the state machine denies every callback (and every big
/// order would time out as REJECTED). The task token is the capability.
#[test]
fn task_token_callbacks_are_granted_on_every_resource() {
    let callback = permissions("approval-callback");
    assert_eq!(
        callback.get("states:SendTaskSuccess"),
        Some(&vec!["*".to_owned()]),
        "approval-callback resumes the execution with SendTaskSuccess on \"*\" (the only resource AWS accepts)"
    );
    for f in crate::FUNCTIONS {
        for (action, resources) in permissions(f.name) {
            if action.starts_with("states:SendTask") {
                assert_eq!(
                    resources,
                    vec!["*".to_owned()],
                    "functions/{}/aws-permissions.json: {action} takes Resource \"*\" only",
                    f.name
                );
            }
        }
    }
    // checkov would flag the "*"; the skip says why it is right.
    let iam = read("infra/iam.tf");
    assert!(
        iam.lines()
            .any(|l| l.contains("checkov:skip=") && l.contains("SendTaskSuccess")),
        "infra/iam.tf: the \"*\" of SendTaskSuccess needs its inline checkov skip with the reason"
    );
}

/// api-handler replays `StartExecution` for an Idempotency-Key retry and may ask
/// `DescribeExecution` (StartExecution's dependent action) how the first one
/// went: on this machine's executions, not on the machine.
#[test]
fn api_handler_may_describe_the_executions_of_its_state_machine() {
    let api = permissions("api-handler");
    assert_eq!(
        api.get("states:StartExecution"),
        Some(&vec!["state_machine".to_owned()])
    );
    assert_eq!(
        api.get("states:DescribeExecution"),
        Some(&vec!["state_machine_executions".to_owned()])
    );
    let locals = read("infra/locals.tf");
    assert!(
        locals.contains(
            r#"state_machine_executions_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}:*""#
        ),
        "infra/locals.tf: state_machine_executions_arn is execution:<machine name>:*"
    );
}

/// The idempotency claim is one conditional PutItem that returns the old item
/// on conflict (ReturnValuesOnConditionCheckFailure): no read of the table.
#[test]
fn api_handler_does_not_read_the_idempotency_table() {
    let api = permissions("api-handler");
    assert_eq!(
        api.get("dynamodb:GetItem"),
        Some(&vec!["orders_table".to_owned()])
    );
}

/// The state machine's service integrations carry the partition placeholder:
/// `arn:aws:states:::lambda:invoke` does not exist in aws-cn or aws-us-gov.
#[test]
fn asl_service_integrations_name_the_partition_through_a_placeholder() {
    let asl: serde_json::Value =
        serde_json::from_str(&read("statemachines/order-saga.asl.json")).unwrap();
    let mut resources = Vec::new();
    collect_resources(&asl, &mut resources);
    assert!(!resources.is_empty());
    for r in resources {
        assert!(
            !r.starts_with("arn:") || r.starts_with("arn:${partition}:"),
            "statemachines/order-saga.asl.json: {r} must start with arn:${{partition}}:"
        );
    }
    let sfn = read("infra/sfn.tf");
    assert!(
        sfn.contains("partition = local.partition"),
        "infra/sfn.tf passes local.partition (data.aws_partition) as ${{partition}}"
    );
}

fn collect_resources(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("Resource", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_resources(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_resources(v, out)),
        _ => {}
    }
}

/// No ARN with a literal `aws` partition and no literal service principal or
/// endpoint name in infra/: they come from data.aws_partition and
/// data.aws_service_principal, so the stack deploys in aws-cn and aws-us-gov.
#[test]
fn infra_names_no_partition_or_service_principal_literally() {
    let mut found = Vec::new();
    for (file, n, line) in terraform_code_lines() {
        // variables.tf's validation accepts a KMS key of any partition: arn:aws[a-z-]*:
        let literal_arn = line.contains("arn:aws:");
        let literal_host = line.contains(".amazonaws.com");
        if literal_arn || literal_host {
            found.push(format!("{file}:{n}: {}", line.trim()));
        }
    }
    assert!(
        found.is_empty(),
        "use local.partition, data.aws_service_principal or local.dns_suffix:\n  {}",
        found.join("\n  ")
    );
}

/// `jwt_audience = null` would reach `length()` in the precondition of api.tf;
/// `nullable = false` turns null into the default `[]`. (scripts/tfschema/
/// test_variables.py has Terraform evaluate the precondition both ways.)
#[test]
fn jwt_audience_is_not_nullable() {
    let body: hcl::Body = hcl::from_str(&read("infra/variables.tf")).unwrap();
    let variable = body
        .blocks()
        .find(|b| {
            b.identifier() == "variable"
                && b.labels().first().map(|l| l.as_str()) == Some("jwt_audience")
        })
        .expect("variable \"jwt_audience\" in infra/variables.tf");
    let nullable = variable
        .body()
        .attributes()
        .find(|a| a.key() == "nullable")
        .map(|a| a.expr().clone());
    assert_eq!(nullable, Some(hcl::Expression::Bool(false)));
}
