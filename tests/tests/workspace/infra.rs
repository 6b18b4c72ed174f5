//! Static cross-checks of `infra/` (Terraform) against the rest of the workspace:
//! the function crates, their `aws-permissions.json`, the state machine file and
//! `docs/contracts.md`.
//!
//! The AWS provider can't be downloaded where this runs, so there is no
//! `terraform validate` or `plan`. Instead [`saga_tests::terraform`] evaluates
//! the expressions that matter as Terraform would, with one stand-in: every
//! attribute of a resource or data source evaluates to its own address, e.g.
//! `aws_dynamodb_table.this[orders].arn`. A policy's resource list then reads
//! as the resources it names, a route's target as the integration it names, an
//! environment variable as the table it names.
//!
//! `scripts/infra-checks.sh` covers the rest: `terraform fmt`, checkov, and
//! asl-validator on the state machine as Terraform's `templatefile` renders it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use hcl::{Expression, Map, Value};
use saga_tests::terraform::{
    Eval, Inst, R, Tf, attr_expr, get_str, instance_keys, number, strings,
};

const ASL_FILE: &str = "statemachines/order-saga.asl.json";

/// The HTTP API of README.md ("HTTP API"): route key, function, behind the optional JWT authorizer?
const ROUTES: &[(&str, &str, bool)] = &[
    ("POST /orders", "api-handler", true),
    ("GET /orders/{orderId}", "api-handler", true),
    ("GET /approvals/{approvalId}", "approval-callback", false),
    ("POST /approvals/{approvalId}", "approval-callback", false),
];

/// Environment variables of docs/contracts.md that Terraform does not set, and why.
const NOT_SET_BY_TERRAFORM: &[(&str, &str)] = &[(
    "AWS_ENDPOINT_URL",
    "SDK standard; points the SDK at moto in contract tests, never set in AWS",
)];

/// Grants a function's role has although its code makes no such call: the Lambda
/// platform makes them with the function's role. `{log_group}` is the function's
/// own log group.
const IMPLIED_FOR_EVERY_FUNCTION: &[(&str, &str, &str)] = &[
    (
        "logs:CreateLogStream",
        "{log_group}:*",
        "the runtime writes the function's own log group",
    ),
    (
        "logs:PutLogEvents",
        "{log_group}:*",
        "the runtime writes the function's own log group",
    ),
    (
        "xray:PutTraceSegments",
        "*",
        "active tracing; X-Ray actions take no resource",
    ),
    (
        "xray:PutTelemetryRecords",
        "*",
        "active tracing; X-Ray actions take no resource",
    ),
];

/// Publishing to a topic encrypted with a customer-managed key uses the
/// publisher's permissions on the key: implied by `sns:Publish`.
const IMPLIED_FOR_SNS_PUBLISHERS: &[&str] = &["kms:GenerateDataKey", "kms:Decrypt"];
const TOPIC_KEY: &str = "aws_kms_key.this.arn";

/// What an event source mapping does with its function's role (not calls of
/// the code): Lambda reads the stream ...
const IMPLIED_FOR_STREAM_SOURCES: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];
/// ... and publishes the metadata of records it gave up on to its on-failure topic.
const IMPLIED_FOR_ON_FAILURE_TOPICS: &str = "sns:Publish";

/// Tables under a customer-managed key (`kms_key_arn`): DynamoDB uses the
/// caller's permissions on the key. Only when the variable is set.
const IMPLIED_FOR_TABLE_KEY: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
    "kms:DescribeKey",
];
const SOME_TABLE_KEY: &str =
    "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555";

/// The state machine role's grants beyond its functions and topics: log
/// delivery (AWS documents Resource "*" for these) and X-Ray.
const IMPLIED_FOR_STATE_MACHINE: &[(&str, &str)] = &[
    ("logs:CreateLogDelivery", "*"),
    ("logs:GetLogDelivery", "*"),
    ("logs:UpdateLogDelivery", "*"),
    ("logs:DeleteLogDelivery", "*"),
    ("logs:ListLogDeliveries", "*"),
    ("logs:PutResourcePolicy", "*"),
    ("logs:DescribeResourcePolicies", "*"),
    ("logs:DescribeLogGroups", "*"),
    ("xray:PutTraceSegments", "*"),
    ("xray:PutTelemetryRecords", "*"),
    ("xray:GetSamplingRules", "*"),
    ("xray:GetSamplingTargets", "*"),
    ("kms:GenerateDataKey", TOPIC_KEY),
    ("kms:Decrypt", TOPIC_KEY),
];

// ---------------------------------------------------------------------------
// Tests

#[test]
fn every_function_crate_is_deployed_from_its_artifact() -> R<()> {
    let tf = Tf::load()?;
    let ev = Eval::new(&tf, &[])?;
    let crates = function_crates(&tf.root)?;

    let deployed = ev.keys_of_local("functions")?;
    assert_eq!(
        deployed,
        crates.iter().cloned().collect::<BTreeSet<_>>(),
        "local.functions in infra/locals.tf must have exactly one entry per directory in functions/"
    );
    assert_eq!(
        crate::FUNCTIONS
            .iter()
            .map(|f| f.name.to_owned())
            .collect::<Vec<_>>(),
        crates,
        "FUNCTIONS in tests/workspace/main.rs must list every directory in functions/, in order"
    );

    let lambda = tf.resource("aws_lambda_function", "this")?;
    let instances = ev.instances(lambda)?;
    assert_eq!(
        instance_keys(&instances),
        deployed,
        "aws_lambda_function.this must be for_each = local.functions"
    );

    for inst in &instances {
        let fn_name = inst.key();
        let artifact = tf
            .root
            .join("target/lambda")
            .join(fn_name)
            .join("bootstrap.zip");
        let filename = ev.attr_str(lambda, inst, "filename")?;
        assert_eq!(
            normalize(Path::new(&filename)),
            artifact,
            "{fn_name}: filename"
        );
        let hash = ev.attr_str(lambda, inst, "source_code_hash")?;
        let hashed = hash
            .strip_prefix("filebase64sha256(")
            .and_then(|p| p.strip_suffix(')'))
            .ok_or_else(|| format!("{fn_name}: source_code_hash must be filebase64sha256(<the artifact>), is {hash}"))?;
        assert_eq!(
            normalize(Path::new(hashed)),
            artifact,
            "{fn_name}: source_code_hash hashes another file"
        );

        assert_eq!(
            ev.attr_str(lambda, inst, "runtime")?,
            "provided.al2023",
            "{fn_name}: runtime"
        );
        assert_eq!(
            ev.attr_str(lambda, inst, "handler")?,
            "bootstrap",
            "{fn_name}: handler"
        );
        assert_eq!(
            strings(&ev.attr(lambda, inst, "architectures")?)?,
            vec!["arm64"],
            "{fn_name}: default architecture"
        );
        let x86 = Eval::new(&tf, &[("architecture", Value::from("x86_64"))])?;
        assert_eq!(
            strings(&x86.attr(lambda, inst, "architectures")?)?,
            vec!["x86_64"],
            "{fn_name}: architectures must follow var.architecture"
        );

        let tracing = ev.single_block(lambda, inst, "tracing_config")?;
        assert_eq!(
            get_str(&tracing, "mode")?,
            "Active",
            "{fn_name}: X-Ray tracing"
        );
        let logging = ev.single_block(lambda, inst, "logging_config")?;
        assert_eq!(
            get_str(&logging, "log_format")?,
            "JSON",
            "{fn_name}: log format"
        );
        assert_eq!(
            get_str(&logging, "log_group")?,
            format!("aws_cloudwatch_log_group.lambda[{fn_name}].name"),
            "{fn_name}: must log to its own explicit log group"
        );

        let timeout = number(&ev.attr(lambda, inst, "timeout")?)?;
        let memory = number(&ev.attr(lambda, inst, "memory_size")?)?;
        assert!(
            (128.0..=10240.0).contains(&memory),
            "{fn_name}: memory_size {memory}"
        );
        // API Gateway gives up on an integration after 30 s.
        let api_function = ROUTES.iter().any(|(_, f, _)| *f == fn_name);
        let max = if api_function { 29.0 } else { 900.0 };
        assert!(
            (1.0..=max).contains(&timeout),
            "{fn_name}: timeout {timeout}s (at most {max}s)"
        );

        // One role per function, carrying that function's policy and nothing else.
        assert_eq!(
            ev.attr_str(lambda, inst, "role")?,
            format!("aws_iam_role.lambda[{fn_name}].arn"),
            "{fn_name}: role"
        );
        let policy = tf.resource("aws_iam_role_policy", "lambda")?;
        assert_eq!(
            ev.attr_str(policy, inst, "role")?,
            format!("aws_iam_role.lambda[{fn_name}].id")
        );
        assert_eq!(
            ev.attr_str(policy, inst, "policy")?,
            format!("data.aws_iam_policy_document.lambda[{fn_name}].json")
        );
    }
    assert_eq!(
        instance_keys(&ev.instances(tf.resource("aws_iam_role_policy", "lambda")?)?),
        deployed
    );
    assert_eq!(
        instance_keys(&ev.instances(tf.resource("aws_iam_role", "lambda")?)?),
        deployed
    );
    Ok(())
}

#[test]
fn function_environments_match_the_contract() -> R<()> {
    let tf = Tf::load()?;
    let ev = Eval::new(&tf, &[])?;
    let contract = contract_env(&tf.root)?;
    let lambda = tf.resource("aws_lambda_function", "this")?;
    let state_machine_arn = ev.local_str("state_machine_arn")?;

    for inst in ev.instances(lambda)? {
        let fn_name = inst.key();
        let env = ev.single_block(lambda, &inst, "environment")?;
        let vars = env
            .get("variables")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{fn_name}: environment.variables is not a map"))?;
        let names: BTreeSet<String> = vars.keys().cloned().collect();
        let expected = contract.get(fn_name).cloned().unwrap_or_default();
        assert_eq!(
            names, expected,
            "{fn_name}: environment variables vs docs/contracts.md"
        );

        for (name, value) in vars {
            let value = value
                .as_str()
                .ok_or_else(|| format!("{fn_name}: {name} is not a string"))?;
            let want = match name.as_str() {
                "STATE_MACHINE_ARN" => state_machine_arn.clone(),
                "PUBLIC_BASE_URL" => "aws_apigatewayv2_api.this.api_endpoint".to_owned(),
                "APPROVAL_THRESHOLD_CENTS" => "100000".to_owned(),
                "APPROVAL_THRESHOLD_CURRENCY" => "EUR".to_owned(),
                "MAX_OPEN_ORDERS_PER_CUSTOMER" => "10".to_owned(),
                "APPROVALS_TOPIC_ARN" => "aws_sns_topic.this[approvals].arn".to_owned(),
                table if table.ends_with("_TABLE") => {
                    format!(
                        "aws_dynamodb_table.this[{}].name",
                        table.trim_end_matches("_TABLE").to_lowercase()
                    )
                }
                other => return Err(format!("{fn_name}: no expected value known for {other}")),
            };
            assert_eq!(value, want, "{fn_name}: {name}");
        }

        // What the function says it reads must be deployed with it: its
        // `ENV_VARS` exactly (linked into this binary, see `crate::FUNCTIONS`),
        // and any contract variable its source names in a string literal.
        let declared: BTreeSet<String> = crate::function(fn_name)
            .env_vars
            .iter()
            .map(|v| (*v).to_owned())
            .collect();
        assert_eq!(
            declared, names,
            "{fn_name}: ENV_VARS of functions/{fn_name} vs the environment Terraform sets"
        );
        let src = tf.root.join("functions").join(fn_name).join("src");
        let known: BTreeSet<&str> = contract.values().flatten().map(String::as_str).collect();
        for read in &named_in_source(&src, &known)? {
            assert!(
                names.contains(read),
                "{fn_name}: its code names {read}, which Terraform does not set"
            );
        }
    }

    // The state machine ARN is built from parts (to break a dependency cycle): it must name this machine.
    let sfn = tf.resource("aws_sfn_state_machine", "this")?;
    let name = ev.attr_str(sfn, &Inst::Single, "name")?;
    assert!(
        state_machine_arn.starts_with("arn:")
            && state_machine_arn.ends_with(&format!(":stateMachine:{name}")),
        "local.state_machine_arn = {state_machine_arn} does not name the state machine {name}"
    );

    // PUBLIC_BASE_URL and the threshold follow their variables.
    let custom = Eval::new(
        &tf,
        &[
            ("public_base_url", Value::from("https://orders.example.com")),
            ("approval_threshold_cents", Value::from(250)),
            ("approval_threshold_currency", Value::from("JPY")),
        ],
    )?;
    let env_of = |fn_name: &str| -> R<Map<String, Value>> {
        let block = custom.single_block(lambda, &Inst::key_of(fn_name, &custom)?, "environment")?;
        Ok(block
            .get("variables")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default())
    };
    assert_eq!(
        env_of("request-approval")?.get("PUBLIC_BASE_URL"),
        Some(&Value::from("https://orders.example.com"))
    );
    assert_eq!(
        env_of("validate")?.get("APPROVAL_THRESHOLD_CENTS"),
        Some(&Value::from("250"))
    );
    assert_eq!(
        env_of("validate")?.get("APPROVAL_THRESHOLD_CURRENCY"),
        Some(&Value::from("JPY"))
    );
    Ok(())
}

#[test]
fn state_machine_gets_exactly_the_placeholders_of_its_file() -> R<()> {
    let tf = Tf::load()?;
    let ev = Eval::new(&tf, &[])?;
    let asl_path = tf.root.join(ASL_FILE);
    let asl = fs::read_to_string(&asl_path).map_err(|e| {
        format!(
            "{ASL_FILE} is missing or unreadable ({e}). infra/sfn.tf deploys it with templatefile(); \
             its placeholders are listed in docs/contracts.md"
        )
    })?;
    serde_json::from_str::<serde_json::Value>(&asl).map_err(|e| {
        format!(
            "{ASL_FILE} must be valid JSON before rendering (placeholders sit inside strings): {e}"
        )
    })?;
    let in_file = placeholders(&asl)?;

    let contract_doc = read(&tf.root.join("docs/contracts.md"))?;
    let in_contract = placeholders_named_in(&contract_doc);
    assert_eq!(
        in_file, in_contract,
        "placeholders of {ASL_FILE} vs docs/contracts.md"
    );

    let sfn = tf.resource("aws_sfn_state_machine", "this")?;
    let (path, vars) = ev.templatefile_call(sfn, "definition")?;
    assert_eq!(
        normalize(Path::new(&path)),
        asl_path,
        "templatefile() must render {ASL_FILE}"
    );
    let supplied: BTreeSet<String> = vars.keys().cloned().collect();
    assert_eq!(
        supplied, in_file,
        "the templatefile() map in infra/sfn.tf vs the placeholders of {ASL_FILE}"
    );

    // Each placeholder gets the resource the contract names.
    for (fn_name, placeholder) in contract_function_placeholders(&contract_doc)? {
        assert_eq!(
            vars.get(&placeholder).and_then(Value::as_str),
            Some(format!("aws_lambda_function.this[{fn_name}].arn").as_str()),
            "${{{placeholder}}}"
        );
    }
    for topic in ["notifications", "alerts"] {
        assert_eq!(
            vars.get(&format!("{topic}_topic_arn"))
                .and_then(Value::as_str),
            Some(format!("aws_sns_topic.this[{topic}].arn").as_str())
        );
    }
    assert_eq!(
        vars.get("approval_timeout_seconds"),
        Some(&Value::from(86400))
    );

    assert_eq!(ev.attr_str(sfn, &Inst::Single, "type")?, "STANDARD");
    let logging = ev.single_block(sfn, &Inst::Single, "logging_configuration")?;
    assert_eq!(get_str(&logging, "level")?, "ALL");
    // Execution data would carry RequestApproval's task token into the logs:
    // opt-in only (var.log_execution_data, default false).
    assert_eq!(
        logging.get("include_execution_data"),
        Some(&Value::from(false))
    );
    assert_eq!(
        get_str(&logging, "log_destination")?,
        "aws_cloudwatch_log_group.sfn.arn:*"
    );
    let tracing = ev.single_block(sfn, &Inst::Single, "tracing_configuration")?;
    assert_eq!(tracing.get("enabled"), Some(&Value::from(true)));
    Ok(())
}

#[test]
fn function_roles_grant_exactly_what_the_code_calls() -> R<()> {
    let tf = Tf::load()?;
    assert_no_other_grants(&tf)?;
    for (label, overrides) in [
        ("tables under the AWS-owned key", vec![]),
        (
            "kms_key_arn set",
            vec![("kms_key_arn", Value::from(SOME_TABLE_KEY))],
        ),
    ] {
        let ev = Eval::new(&tf, &overrides)?;
        let state_machine_arn = ev.local_str("state_machine_arn")?;
        let doc = tf.data("aws_iam_policy_document", "lambda")?;
        let mut problems = Vec::new();

        for inst in ev.instances(doc)? {
            let fn_name = inst.key();
            let code = code_permissions(&tf.root, fn_name, &state_machine_arn)?;
            let mut expected = code.clone();
            let log_group = format!("aws_cloudwatch_log_group.lambda[{fn_name}].arn");
            for (action, resource, _why) in IMPLIED_FOR_EVERY_FUNCTION {
                expected.insert((
                    (*action).to_owned(),
                    resource.replace("{log_group}", &log_group),
                ));
            }
            expected.extend(implied_by_event_sources(&tf, &ev, fn_name)?);
            if expected.iter().any(|(action, _)| action == "sns:Publish") {
                for action in IMPLIED_FOR_SNS_PUBLISHERS {
                    expected.insert(((*action).to_owned(), TOPIC_KEY.to_owned()));
                }
            }
            if !overrides.is_empty() {
                for action in IMPLIED_FOR_TABLE_KEY {
                    expected.insert(((*action).to_owned(), SOME_TABLE_KEY.to_owned()));
                }
            }

            let statements = ev.blocks(doc, &inst, "statement")?;
            let granted = grants(&statements)?;
            for missing in expected.difference(&granted) {
                problems.push(format!(
                    "{fn_name}: needs {} on {} but its role does not grant it",
                    missing.0, missing.1
                ));
            }
            for extra in granted.difference(&expected) {
                problems.push(format!(
                    "{fn_name}: its role grants {} on {}, which neither functions/{fn_name}/aws-permissions.json \
                     nor the infrastructure-implied list in this test explains",
                    extra.0, extra.1
                ));
            }
            // The table key is usable through DynamoDB only.
            for st in &statements {
                let actions = strings(st.get("actions").unwrap_or(&Value::Null))?;
                if actions
                    .iter()
                    .any(|a| IMPLIED_FOR_TABLE_KEY.contains(&a.as_str()))
                    && strings(st.get("resources").unwrap_or(&Value::Null))?
                        .contains(&SOME_TABLE_KEY.to_owned())
                {
                    let via = st
                        .get("condition")
                        .and_then(Value::as_array)
                        .is_some_and(|cs| {
                            cs.iter().any(|c| {
                                c.as_object().and_then(|c| c.get("variable"))
                                    == Some(&Value::from("kms:ViaService"))
                            })
                        });
                    if !via {
                        problems.push(format!(
                            "{fn_name}: the table key grant lacks its kms:ViaService condition"
                        ));
                    }
                }
            }
        }
        assert!(
            problems.is_empty(),
            "IAM vs aws-permissions.json ({label}):\n  {}",
            problems.join("\n  ")
        );
    }

    // The implied KMS grant is for the key the topics are encrypted with.
    let ev = Eval::new(&tf, &[])?;
    let topics = tf.resource("aws_sns_topic", "this")?;
    for inst in ev.instances(topics)? {
        assert_eq!(
            ev.attr_str(topics, &inst, "kms_master_key_id")?,
            TOPIC_KEY,
            "topic {}",
            inst.key()
        );
    }
    Ok(())
}

#[test]
fn state_machine_role_invokes_exactly_its_functions_and_topics() -> R<()> {
    let tf = Tf::load()?;
    let ev = Eval::new(&tf, &[])?;
    let sfn = tf.resource("aws_sfn_state_machine", "this")?;
    let (_, vars) = ev.templatefile_call(sfn, "definition")?;

    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for value in vars.values().filter_map(Value::as_str) {
        if value.starts_with("aws_lambda_function.") {
            expected.insert(("lambda:InvokeFunction".to_owned(), value.to_owned()));
            expected.insert(("lambda:InvokeFunction".to_owned(), format!("{value}:*")));
        } else if value.starts_with("aws_sns_topic.") {
            expected.insert(("sns:Publish".to_owned(), value.to_owned()));
        }
    }
    for (action, resource) in IMPLIED_FOR_STATE_MACHINE {
        expected.insert(((*action).to_owned(), (*resource).to_owned()));
    }
    let doc = tf.data("aws_iam_policy_document", "sfn")?;
    let granted = grants(&ev.blocks(doc, &Inst::Single, "statement")?)?;
    let missing: Vec<_> = expected.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "state machine role: missing {missing:?}, not explained {extra:?}"
    );

    assert_eq!(
        ev.attr_str(sfn, &Inst::Single, "role_arn")?,
        "aws_iam_role.sfn.arn"
    );
    let policy = tf.resource("aws_iam_role_policy", "sfn")?;
    assert_eq!(
        ev.attr_str(policy, &Inst::Single, "role")?,
        "aws_iam_role.sfn.id"
    );
    assert_eq!(
        ev.attr_str(policy, &Inst::Single, "policy")?,
        "data.aws_iam_policy_document.sfn.json"
    );
    Ok(())
}

#[test]
fn api_routes_point_at_the_right_functions() -> R<()> {
    let tf = Tf::load()?;
    let route_res = tf.resource("aws_apigatewayv2_route", "this")?;
    let integration_res = tf.resource("aws_apigatewayv2_integration", "this")?;
    let permission_res = tf.resource("aws_lambda_permission", "api")?;
    let jwt = [
        ("jwt_issuer", Value::from("https://issuer.example.com")),
        ("jwt_audience", Value::from(vec!["orders-api"])),
    ];

    for (label, overrides) in [("no JWT", &[][..]), ("JWT", &jwt[..])] {
        let ev = Eval::new(&tf, overrides)?;
        let mut seen = BTreeSet::new();
        for inst in ev.instances(route_res)? {
            let key = ev.attr_str(route_res, &inst, "route_key")?;
            let (_, function, protected) = ROUTES
                .iter()
                .find(|(k, _, _)| *k == key)
                .ok_or_else(|| format!("route {key} is not one of the API's routes"))?;
            seen.insert(key.clone());
            assert_eq!(
                ev.attr_str(route_res, &inst, "api_id")?,
                "aws_apigatewayv2_api.this.id"
            );

            let target = ev.attr_str(route_res, &inst, "target")?;
            let integration = target
                .strip_prefix("integrations/aws_apigatewayv2_integration.this[")
                .and_then(|t| t.strip_suffix("].id"))
                .ok_or_else(|| {
                    format!(
                        "{key}: target {target} is not one of aws_apigatewayv2_integration.this"
                    )
                })?;
            let integration_inst = Inst::key_of_resource(integration, &ev, integration_res)?;
            assert_eq!(
                ev.attr_str(integration_res, &integration_inst, "integration_uri")?,
                format!("aws_lambda_function.this[{function}].invoke_arn"),
                "{key} must reach {function}"
            );
            assert_eq!(
                ev.attr_str(integration_res, &integration_inst, "integration_type")?,
                "AWS_PROXY"
            );
            assert_eq!(
                ev.attr_str(integration_res, &integration_inst, "payload_format_version")?,
                "2.0"
            );
            assert_eq!(
                ev.attr_str(integration_res, &integration_inst, "api_id")?,
                "aws_apigatewayv2_api.this.id"
            );

            let jwt_on = *protected && label == "JWT";
            assert_eq!(
                ev.attr_str(route_res, &inst, "authorization_type")?,
                if jwt_on { "JWT" } else { "NONE" },
                "{key} ({label})"
            );
            let authorizer = ev.attr(route_res, &inst, "authorizer_id")?;
            let want = if jwt_on {
                Value::from("aws_apigatewayv2_authorizer.jwt[0].id")
            } else {
                Value::Null
            };
            assert_eq!(authorizer, want, "{key} ({label}): authorizer_id");
        }
        let all: BTreeSet<String> = ROUTES.iter().map(|(k, _, _)| (*k).to_owned()).collect();
        assert_eq!(
            seen, all,
            "the API must have exactly the routes of README.md's HTTP API ({label})"
        );

        // Invoke permissions: one per route, scoped to this API, that method and path.
        let mut permissions = BTreeSet::new();
        for inst in ev.instances(permission_res)? {
            permissions.insert((
                ev.attr_str(permission_res, &inst, "function_name")?,
                ev.attr_str(permission_res, &inst, "principal")?,
                ev.attr_str(permission_res, &inst, "source_arn")?,
                ev.attr_str(permission_res, &inst, "action")?,
            ));
        }
        let expected: BTreeSet<_> = ROUTES
            .iter()
            .map(|(key, function, _)| {
                (
                    format!("aws_lambda_function.this[{function}].function_name"),
                    "data.aws_service_principal.this[apigateway].name".to_owned(),
                    format!(
                        "aws_apigatewayv2_api.this.execution_arn/*/{}",
                        route_arn_path(key)
                    ),
                    "lambda:InvokeFunction".to_owned(),
                )
            })
            .collect();
        assert_eq!(permissions, expected, "aws_lambda_permission.api ({label})");
    }

    let ev = Eval::new(
        &tf,
        &[
            ("api_throttling_burst_limit", Value::from(7)),
            ("api_throttling_rate_limit", Value::from(3)),
        ],
    )?;
    let stage = tf.resource("aws_apigatewayv2_stage", "default")?;
    assert_eq!(ev.attr_str(stage, &Inst::Single, "name")?, "$default");
    assert_eq!(
        ev.attr(stage, &Inst::Single, "auto_deploy")?,
        Value::from(true)
    );
    let throttling = ev.single_block(stage, &Inst::Single, "default_route_settings")?;
    assert_eq!(
        throttling.get("throttling_burst_limit"),
        Some(&Value::from(7))
    );
    assert_eq!(
        throttling.get("throttling_rate_limit"),
        Some(&Value::from(3))
    );
    let logs = ev.single_block(stage, &Inst::Single, "access_log_settings")?;
    assert_eq!(
        get_str(&logs, "destination_arn")?,
        "aws_cloudwatch_log_group.api.arn"
    );
    let format = get_str(&logs, "format")?;
    assert!(
        format.contains("$context.routeKey"),
        "access logs should name the route"
    );
    assert!(
        !format.contains("$context.path"),
        "access logs must not record the path: an approval link's path is its capability"
    );
    Ok(())
}

#[test]
fn tables_match_the_contract() -> R<()> {
    let tf = Tf::load()?;
    let contract = contract_tables(&read(&tf.root.join("docs/contracts.md"))?)?;
    let tables = tf.resource("aws_dynamodb_table", "this")?;
    for (label, overrides) in [
        ("AWS-owned key", vec![]),
        (
            "kms_key_arn",
            vec![("kms_key_arn", Value::from(SOME_TABLE_KEY))],
        ),
    ] {
        let ev = Eval::new(&tf, &overrides)?;
        let instances = ev.instances(tables)?;
        assert_eq!(
            instance_keys(&instances),
            contract.keys().cloned().collect(),
            "tables vs docs/contracts.md"
        );
        for inst in &instances {
            let table = inst.key();
            let (key, ttl) = &contract[table];
            assert_eq!(
                &ev.attr_str(tables, inst, "hash_key")?,
                key,
                "{table}: partition key"
            );
            let attributes = ev.blocks(tables, inst, "attribute")?;
            assert_eq!(attributes.len(), 1, "{table}: only the key is declared");
            assert_eq!(get_str(&attributes[0], "name")?, *key);
            assert_eq!(get_str(&attributes[0], "type")?, "S");
            let ttls = ev.blocks(tables, inst, "ttl")?;
            match ttl {
                None => assert!(ttls.is_empty(), "{table}: no TTL in the contract"),
                Some(attribute) => {
                    assert_eq!(ttls.len(), 1, "{table}: TTL");
                    assert_eq!(
                        get_str(&ttls[0], "attribute_name")?,
                        *attribute,
                        "{table}: TTL attribute"
                    );
                    assert_eq!(ttls[0].get("enabled"), Some(&Value::from(true)));
                }
            }
            assert_eq!(
                ev.attr_str(tables, inst, "billing_mode")?,
                "PAY_PER_REQUEST",
                "{table}: on-demand"
            );
            let pitr = ev.single_block(tables, inst, "point_in_time_recovery")?;
            assert_eq!(
                pitr.get("enabled"),
                Some(&Value::from(true)),
                "{table}: PITR"
            );
            let sse = ev.single_block(tables, inst, "server_side_encryption")?;
            let (enabled, key_arn) = if overrides.is_empty() {
                (false, Value::Null)
            } else {
                (true, Value::from(SOME_TABLE_KEY))
            };
            assert_eq!(
                sse.get("enabled"),
                Some(&Value::from(enabled)),
                "{table}: encryption ({label})"
            );
            assert_eq!(
                sse.get("kms_key_arn").cloned().unwrap_or(Value::Null),
                key_arn,
                "{table}: key ({label})"
            );
        }
    }
    Ok(())
}

#[test]
fn alarms_watch_the_state_machine_every_function_and_the_api() -> R<()> {
    let tf = Tf::load()?;
    let ev = Eval::new(&tf, &[])?;
    // OK notifications are opt-in: each deploy would otherwise mail one per alarm.
    let ev_ok = Eval::new(&tf, &[("alarm_ok_notifications", Value::from(true))])?;
    let mut expected = BTreeSet::new();
    for metric in [
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionThrottled",
    ] {
        expected.insert((
            "AWS/States".to_owned(),
            metric.to_owned(),
            "StateMachineArn=aws_sfn_state_machine.this.arn".to_owned(),
        ));
    }
    for fn_name in ev.keys_of_local("functions")? {
        for metric in ["Errors", "Throttles"] {
            expected.insert((
                "AWS/Lambda".to_owned(),
                metric.to_owned(),
                format!("FunctionName=aws_lambda_function.this[{fn_name}].function_name"),
            ));
        }
    }
    expected.insert((
        "AWS/ApiGateway".to_owned(),
        "5xx".to_owned(),
        "ApiId=aws_apigatewayv2_api.this.id".to_owned(),
    ));

    let mut actual = BTreeSet::new();
    for alarm in tf
        .resources
        .iter()
        .filter(|r| !r.data && r.typ == "aws_cloudwatch_metric_alarm")
    {
        for inst in ev.instances(alarm)? {
            let dims = ev.attr(alarm, &inst, "dimensions")?;
            let dims = dims
                .as_object()
                .ok_or_else(|| format!("{}: dimensions", alarm.address()))?
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",");
            actual.insert((
                ev.attr_str(alarm, &inst, "namespace")?,
                ev.attr_str(alarm, &inst, "metric_name")?,
                dims,
            ));
            assert_eq!(
                strings(&ev.attr(alarm, &inst, "alarm_actions")?)?,
                vec!["aws_sns_topic.this[alerts].arn"],
                "{}: alarms notify the alerts topic",
                alarm.address()
            );
            for (ev, ok) in [
                (&ev, vec![]),
                (&ev_ok, vec!["aws_sns_topic.this[alerts].arn"]),
            ] {
                assert_eq!(
                    strings(&ev.attr(alarm, &inst, "ok_actions")?)?,
                    ok,
                    "{}: ok_actions follow var.alarm_ok_notifications",
                    alarm.address()
                );
            }
        }
    }
    let missing: Vec<_> = expected.difference(&actual).collect();
    assert!(missing.is_empty(), "alarms missing: {missing:?}");

    // The keys are the alarms' resource addresses: renaming one replaces the alarm.
    assert_eq!(
        instance_keys(&ev.instances(tf.resource("aws_cloudwatch_metric_alarm", "state_machine")?)?),
        [
            "executions-failed",
            "executions-timed-out",
            "execution-throttled"
        ]
        .iter()
        .map(|k| (*k).to_owned())
        .collect()
    );
    assert_eq!(
        instance_keys(&ev.instances(tf.resource("aws_cloudwatch_metric_alarm", "function")?)?),
        ev.keys_of_local("functions")?
            .iter()
            .flat_map(|f| [format!("{f}-errors"), format!("{f}-throttles")])
            .collect()
    );

    // Failed executions and function errors alarm at their variables' thresholds,
    // every other alarm at the first event.
    let custom = Eval::new(
        &tf,
        &[
            ("execution_failure_alarm_threshold", Value::from(7)),
            ("function_error_alarm_threshold", Value::from(9)),
        ],
    )?;
    for alarm in tf
        .resources
        .iter()
        .filter(|r| !r.data && r.typ == "aws_cloudwatch_metric_alarm")
    {
        for inst in custom.instances(alarm)? {
            let metric = custom.attr_str(alarm, &inst, "metric_name")?;
            let threshold = number(&custom.attr(alarm, &inst, "threshold")?)?;
            let want = match metric.as_str() {
                "ExecutionsFailed" => 7.0,
                "Errors" => 9.0,
                _ => 1.0,
            };
            assert!(
                (threshold - want).abs() < f64::EPSILON,
                "{} ({metric}): threshold {threshold}, want {want}",
                alarm.address()
            );
        }
    }
    Ok(())
}

#[test]
fn variables_and_outputs_are_typed_documented_and_complete() -> R<()> {
    let tf = Tf::load()?;
    let ev = Eval::new(&tf, &[])?;
    for (name, body) in &tf.variables {
        assert!(
            attr_expr(body, "type").is_some(),
            "variable {name} has no type"
        );
        assert!(
            matches!(attr_expr(body, "description"), Some(Expression::String(s)) if !s.is_empty()),
            "variable {name} has no description"
        );
    }
    for (name, body) in &tf.outputs {
        assert!(
            matches!(attr_expr(body, "description"), Some(Expression::String(s)) if !s.is_empty()),
            "output {name} has no description"
        );
    }
    let wanted = [
        ("api_url", "aws_apigatewayv2_api.this.api_endpoint"),
        ("state_machine_arn", "aws_sfn_state_machine.this.arn"),
        (
            "products_table_name",
            "aws_dynamodb_table.this[products].name",
        ),
        ("orders_table_name", "aws_dynamodb_table.this[orders].name"),
        (
            "approvals_table_name",
            "aws_dynamodb_table.this[approvals].name",
        ),
        (
            "idempotency_table_name",
            "aws_dynamodb_table.this[idempotency].name",
        ),
        ("approvals_topic_arn", "aws_sns_topic.this[approvals].arn"),
        (
            "notifications_topic_arn",
            "aws_sns_topic.this[notifications].arn",
        ),
        ("alerts_topic_arn", "aws_sns_topic.this[alerts].arn"),
    ];
    for (name, value) in wanted {
        let body = tf
            .outputs
            .get(name)
            .ok_or_else(|| format!("output {name} is missing"))?;
        let expr = attr_expr(body, "value").ok_or_else(|| format!("output {name} has no value"))?;
        assert_eq!(ev.eval(expr)?, Value::from(value), "output {name}");
    }

    // The architecture enumeration is validated.
    let arch = tf
        .variables
        .get("architecture")
        .ok_or("variable architecture is missing")?;
    let validation = arch
        .blocks()
        .find(|b| b.identifier() == "validation")
        .ok_or("variable architecture has no validation")?;
    let condition = attr_expr(validation.body(), "condition")
        .ok_or("architecture validation has no condition")?;
    for (value, ok) in [("arm64", true), ("x86_64", true), ("aarch64", false)] {
        let ev = Eval::new(&tf, &[("architecture", Value::from(value))])?;
        assert_eq!(
            ev.eval(condition)?,
            Value::from(ok),
            "architecture = {value}"
        );
    }
    Ok(())
}

#[test]
fn placeholder_scan_follows_terraform_template_syntax() -> R<()> {
    let found = placeholders(
        r#"{"a": "${one}", "b": "$${not_one}", "c": "States.StringToJson('${ two }')", "d": "$.x"}"#,
    )?;
    assert_eq!(
        found,
        ["one", "two"].iter().map(|s| (*s).to_owned()).collect()
    );
    assert!(
        placeholders(r#"{"a": "%{ if x }y%{ endif }"}"#).is_err(),
        "template directives are not placeholders"
    );
    assert!(
        placeholders(r#"{"a": "${var.x}"}"#).is_err(),
        "only plain names are placeholders"
    );
    assert!(placeholders(r#"{"a": "%%{ literal }"}"#)?.is_empty());
    Ok(())
}

/// Issue 11, item 9: a decision recorded but not delivered is redelivered in
/// AWS by the approvals table's stream invoking approval-callback, with only
/// the writes that need it, bounded retries that hold up nobody for long, and
/// an operator alert when they are spent.
#[test]
fn the_approvals_stream_redelivers_decisions_with_bounded_retries() -> R<()> {
    let tf = Tf::load()?;
    let ev = Eval::new(&tf, &[])?;

    // Only the approvals table has a stream, with the new image the filter reads.
    let tables = tf.resource("aws_dynamodb_table", "this")?;
    for inst in ev.instances(tables)? {
        let table = inst.key();
        let enabled = ev.attr(tables, &inst, "stream_enabled")?;
        let view = ev.attr(tables, &inst, "stream_view_type")?;
        if table == "approvals" {
            assert_eq!(enabled, Value::from(true), "approvals: stream_enabled");
            assert!(
                ["NEW_IMAGE", "NEW_AND_OLD_IMAGES"].contains(&view.as_str().unwrap_or_default()),
                "approvals: the filter needs the new image, stream_view_type is {view}"
            );
        } else {
            assert_eq!(enabled, Value::from(false), "{table}: no stream");
            assert_eq!(view, Value::Null, "{table}: no stream view");
        }
    }

    let mappings: Vec<_> = tf
        .resources
        .iter()
        .filter(|r| !r.data && r.typ == "aws_lambda_event_source_mapping")
        .collect();
    assert_eq!(
        mappings.len(),
        1,
        "one event source mapping: the approvals stream"
    );
    let m = tf.resource("aws_lambda_event_source_mapping", "approval_redelivery")?;
    let inst = Inst::Single;
    assert_eq!(
        ev.attr_str(m, &inst, "function_name")?,
        "aws_lambda_function.this[approval-callback].arn",
        "the existing function, no ninth one"
    );
    assert_eq!(
        ev.attr_str(m, &inst, "event_source_arn")?,
        "aws_dynamodb_table.this[approvals].stream_arn"
    );
    assert_eq!(ev.attr_str(m, &inst, "starting_position")?, "LATEST");

    // Only decided, undelivered approvals invoke it: the code's own pattern.
    let filter = ev.single_block(m, &inst, "filter_criteria")?;
    let filters = filter
        .get("filter")
        .and_then(Value::as_array)
        .ok_or("filter_criteria without filter")?;
    assert_eq!(filters.len(), 1, "one filter pattern");
    let pattern = filters[0]
        .as_object()
        .and_then(|f| f.get("pattern"))
        .and_then(Value::as_str)
        .ok_or("filter without pattern")?;
    let pattern: serde_json::Value =
        serde_json::from_str(pattern).map_err(|e| format!("filter pattern: {e}"))?;
    assert_eq!(
        pattern,
        approval_callback::stream::stream_filter(),
        "infra/lambda.tf's filter must be approval_callback::stream::stream_filter()"
    );

    // One failed record is retried alone, a bounded number of times, then
    // reported to the operators; a failing batch is split.
    assert_eq!(
        strings(&ev.attr(m, &inst, "function_response_types")?)?,
        vec!["ReportBatchItemFailures"]
    );
    assert_eq!(
        ev.attr(m, &inst, "bisect_batch_on_function_error")?,
        Value::from(true)
    );
    let retries = number(&ev.attr(m, &inst, "maximum_retry_attempts")?)?;
    assert!(
        (1.0..=20.0).contains(&retries),
        "maximum_retry_attempts {retries}: bounded (the default -1 retries for 24 h and holds up the shard)"
    );
    let age = number(&ev.attr(m, &inst, "maximum_record_age_in_seconds")?)?;
    assert!(
        (60.0..=3600.0).contains(&age),
        "maximum_record_age_in_seconds {age}: bounded, at most an hour"
    );
    let destination = ev.single_block(m, &inst, "destination_config")?;
    let on_failure = destination
        .get("on_failure")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_object)
        .ok_or("destination_config without on_failure")?;
    assert_eq!(
        get_str(on_failure, "destination_arn")?,
        "aws_sns_topic.this[alerts].arn",
        "given-up records reach the operators (the alarms' topic)"
    );

    // The batching window outlasts the decision's own POST (the function's
    // timeout), so the stream does not race the click it follows.
    let lambda = tf.resource("aws_lambda_function", "this")?;
    let callback = Inst::key_of("approval-callback", &ev)?;
    let timeout = number(&ev.attr(lambda, &callback, "timeout")?)?;
    let window = number(&ev.attr(m, &inst, "maximum_batching_window_in_seconds")?)?;
    assert!(
        window >= timeout,
        "maximum_batching_window_in_seconds {window} < approval-callback's timeout {timeout}"
    );
    let batch = number(&ev.attr(m, &inst, "batch_size")?)?;
    assert!((1.0..=100.0).contains(&batch), "batch_size {batch}");
    Ok(())
}

// ---------------------------------------------------------------------------
// The workspace side: function crates, contracts, permission lists

/// Directories of functions/: those with a Cargo.toml (crate name = binary
/// name = directory), or, before a crate exists, an aws-permissions.json.
fn function_crates(root: &Path) -> R<Vec<String>> {
    let dir = root.join("functions");
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let manifest = path.join("Cargo.toml");
        let permissions = path.join("aws-permissions.json");
        if !path.is_dir() || !(manifest.exists() || permissions.exists()) {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("non-UTF-8 directory in functions/")?
            .to_owned();
        if !permissions.exists() {
            return Err(format!(
                "functions/{name} has no aws-permissions.json (docs/contracts.md)"
            ));
        }
        if manifest.exists() {
            let (package, bins) = crate_names(&read(&manifest)?);
            if package.as_deref() != Some(name.as_str()) {
                return Err(format!(
                    "functions/{name}/Cargo.toml: package name {package:?} must be {name:?}"
                ));
            }
            if !bins.is_empty() && !bins.contains(&name) {
                return Err(format!(
                    "functions/{name}/Cargo.toml: no [[bin]] named {name:?} (found {bins:?}); \
                     the artifact is target/lambda/<binary>/bootstrap.zip"
                ));
            }
        }
        out.push(name);
    }
    if out.is_empty() {
        return Err("no function directories in functions/".to_owned());
    }
    out.sort();
    Ok(out)
}

/// `[package] name` and every `[[bin]] name` of a manifest.
fn crate_names(manifest: &str) -> (Option<String>, Vec<String>) {
    let (mut section, mut package, mut bins) = (String::new(), None, Vec::new());
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if let Some(value) = line
            .strip_prefix("name")
            .map(str::trim_start)
            .and_then(|l| l.strip_prefix('='))
        {
            let value = value.trim().trim_matches('"').to_owned();
            match section.as_str() {
                "[package]" => package = Some(value),
                "[[bin]]" => bins.push(value),
                _ => {}
            }
        }
    }
    (package, bins)
}

/// (action, resource address) pairs of functions/<fn>/aws-permissions.json.
fn code_permissions(
    root: &Path,
    fn_name: &str,
    state_machine_arn: &str,
) -> R<BTreeSet<(String, String)>> {
    let path = root
        .join("functions")
        .join(fn_name)
        .join("aws-permissions.json");
    let json: BTreeMap<String, Vec<String>> =
        serde_json::from_str(&read(&path)?).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BTreeSet::new();
    for (action, resources) in json {
        for logical in resources {
            let arn = if let Some(table) = logical.strip_suffix("_table") {
                format!("aws_dynamodb_table.this[{table}].arn")
            } else if let Some(topic) = logical.strip_suffix("_topic") {
                format!("aws_sns_topic.this[{topic}].arn")
            } else if logical == "state_machine" {
                state_machine_arn.to_owned()
            } else if logical == "state_machine_executions" {
                // execution:<machine name>:<execution name>, every execution of it.
                format!(
                    "{}:*",
                    state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
                )
            } else if logical == "*" {
                // Actions without resource-level permissions (states:SendTask*).
                logical.clone()
            } else {
                return Err(format!(
                    "{}: unknown logical resource {logical:?}",
                    path.display()
                ));
            };
            out.insert((action.clone(), arn));
        }
    }
    Ok(out)
}

/// function -> the environment variables docs/contracts.md says it reads.
fn contract_env(root: &Path) -> R<BTreeMap<String, BTreeSet<String>>> {
    let doc = read(&root.join("docs/contracts.md"))?;
    let functions = function_crates(root)?;
    let mut out: BTreeMap<String, BTreeSet<String>> = functions
        .iter()
        .map(|f| (f.clone(), BTreeSet::new()))
        .collect();
    for row in md_table(&doc, "variable")? {
        let [name, used_by, ..] = row.as_slice() else {
            return Err(format!("docs/contracts.md: environment row {row:?}"));
        };
        if NOT_SET_BY_TERRAFORM.iter().any(|(n, _)| n == name) {
            continue;
        }
        let users: Vec<String> = if used_by.starts_with("all") {
            functions.clone()
        } else {
            used_by.split(',').map(|s| s.trim().to_owned()).collect()
        };
        for user in users {
            out.get_mut(&user)
                .ok_or_else(|| {
                    format!("docs/contracts.md: {name} is used by unknown function {user:?}")
                })?
                .insert(name.clone());
        }
    }
    Ok(out)
}

/// table -> (partition key, TTL attribute) from docs/contracts.md.
fn contract_tables(doc: &str) -> R<BTreeMap<String, (String, Option<String>)>> {
    let mut out = BTreeMap::new();
    for row in md_table(doc, "table")? {
        let [table, key, ttl, ..] = row.as_slice() else {
            return Err(format!("docs/contracts.md: table row {row:?}"));
        };
        let ttl = (!ttl.is_empty() && ttl != "–" && ttl != "-").then(|| ttl.clone());
        out.insert(table.clone(), (key.clone(), ttl));
    }
    Ok(out)
}

/// (function, placeholder) pairs of the functions table of docs/contracts.md.
fn contract_function_placeholders(doc: &str) -> R<Vec<(String, String)>> {
    let mut out = Vec::new();
    for row in md_table(doc, "function (crate, binary, Terraform key)")? {
        if let [function, _, placeholder, ..] = row.as_slice()
            && let Some(name) = placeholder
                .strip_prefix("${")
                .and_then(|p| p.strip_suffix('}'))
        {
            out.push((function.clone(), name.to_owned()));
        }
    }
    if out.is_empty() {
        return Err("docs/contracts.md: no function placeholders found".to_owned());
    }
    Ok(out)
}

/// The body rows of the markdown table whose first header cell is `first_header`,
/// cells trimmed and stripped of backticks.
fn md_table(doc: &str, first_header: &str) -> R<Vec<Vec<String>>> {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().replace('`', ""))
            .collect()
    };
    let mut lines = doc
        .lines()
        .skip_while(|l| !(l.trim_start().starts_with('|') && cells(l)[0] == first_header));
    if lines.next().is_none() {
        return Err(format!(
            "docs/contracts.md: no table headed {first_header:?}"
        ));
    }
    Ok(lines
        .take_while(|l| l.trim_start().starts_with('|'))
        .filter(|l| !l.contains("---"))
        .map(cells)
        .collect())
}

/// The contract variable names (`known`) that appear as string literals in
/// the `.rs` files under `dir`, which must exist.
fn named_in_source(dir: &Path, known: &BTreeSet<&str>) -> R<BTreeSet<String>> {
    if !dir.is_dir() {
        return Err(format!("{}: no such directory", dir.display()));
    }
    let mut named = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = read(&path)?;
                named.extend(
                    known
                        .iter()
                        .filter(|n| text.contains(&format!("\"{n}\"")))
                        .map(|n| (*n).to_owned()),
                );
            }
        }
    }
    Ok(named)
}

/// The `${name}` placeholders of a Terraform template (`$${` is an escape).
/// Directives (`%{ … }`) and anything but a plain name are rejected: the
/// state machine's contract is plain placeholders inside JSON strings.
fn placeholders(template: &str) -> R<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut rest = template;
    while let Some(i) = rest.find(['$', '%']) {
        let tail = &rest[i..];
        if tail.starts_with("$${") || tail.starts_with("%%{") {
            rest = &tail[3..];
        } else if tail.starts_with("%{") {
            return Err(format!(
                "template directive at {:?}: the ASL may only hold ${{name}} placeholders",
                &tail[..tail.len().min(20)]
            ));
        } else if let Some(body) = tail.strip_prefix("${") {
            let end = body.find('}').ok_or("unclosed ${")?;
            let name = body[..end].trim().trim_matches('~').trim();
            let plain = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !plain {
                return Err(format!(
                    "${{{name}}} is not a plain placeholder name: templatefile() would evaluate it \
                     as an expression (write $${{ for a literal ${{)"
                ));
            }
            out.insert(name.to_owned());
            rest = &body[end + 1..];
        } else {
            rest = &tail[1..];
        }
    }
    Ok(out)
}

/// Every `${name}` named in a document (docs/contracts.md).
fn placeholders_named_in(doc: &str) -> BTreeSet<String> {
    doc.split("${")
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_owned()))
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

/// "GET /orders/{orderId}" -> "GET/orders/*", as in an execute-api ARN.
fn route_arn_path(route_key: &str) -> String {
    let (method, path) = route_key.split_once(' ').unwrap_or((route_key, ""));
    let path: Vec<&str> = path
        .split('/')
        .map(|seg| if seg.starts_with('{') { "*" } else { seg })
        .collect();
    format!("{method}{}", path.join("/"))
}

/// What the event source mappings invoking `fn_name` do with its role:
/// (action, resource) pairs.
fn implied_by_event_sources(tf: &Tf, ev: &Eval, fn_name: &str) -> R<BTreeSet<(String, String)>> {
    let function_arn = format!("aws_lambda_function.this[{fn_name}].arn");
    let mut out = BTreeSet::new();
    for m in tf
        .resources
        .iter()
        .filter(|r| !r.data && r.typ == "aws_lambda_event_source_mapping")
    {
        for inst in ev.instances(m)? {
            if ev.attr_str(m, &inst, "function_name")? != function_arn {
                continue;
            }
            let stream = ev.attr_str(m, &inst, "event_source_arn")?;
            for action in IMPLIED_FOR_STREAM_SOURCES {
                out.insert(((*action).to_owned(), stream.clone()));
            }
            for destination in ev.blocks(m, &inst, "destination_config")? {
                for on_failure in destination
                    .get("on_failure")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let arn = on_failure
                        .as_object()
                        .and_then(|o| o.get("destination_arn"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            format!("{}: on_failure without destination_arn", m.address())
                        })?;
                    if !arn.starts_with("aws_sns_topic.") {
                        return Err(format!(
                            "{}: on-failure destination {arn}: only SNS topics are modelled here",
                            m.address()
                        ));
                    }
                    out.insert((IMPLIED_FOR_ON_FAILURE_TOPICS.to_owned(), arn.to_owned()));
                }
            }
        }
    }
    Ok(out)
}

/// Allow grants of evaluated `statement` blocks, as (action, resource) pairs.
fn grants(statements: &[Map<String, Value>]) -> R<BTreeSet<(String, String)>> {
    let mut out = BTreeSet::new();
    for st in statements {
        for key in st.keys() {
            if !["sid", "effect", "actions", "resources", "condition"].contains(&key.as_str()) {
                return Err(format!(
                    "statement uses {key:?}, which this check does not model"
                ));
            }
        }
        if st.get("effect").is_some_and(|e| e != &Value::from("Allow")) {
            return Err("only Allow statements are modelled".to_owned());
        }
        let actions = strings(st.get("actions").ok_or("statement without actions")?)?;
        let resources = strings(st.get("resources").ok_or("statement without resources")?)?;
        for action in &actions {
            for resource in &resources {
                out.insert((action.clone(), resource.clone()));
            }
        }
    }
    Ok(out)
}

/// No grant reaches a role except through the two policy documents checked here.
fn assert_no_other_grants(tf: &Tf) -> R<()> {
    for res in tf.resources.iter().filter(|r| !r.data) {
        match res.typ.as_str() {
            "aws_iam_role_policy_attachment"
            | "aws_iam_policy_attachment"
            | "aws_iam_policy"
            | "aws_iam_role_policies_exclusive" => {
                return Err(format!(
                    "{}: grants are only made through aws_iam_role_policy.lambda/.sfn",
                    res.address()
                ));
            }
            "aws_iam_role_policy" if res.name != "lambda" && res.name != "sfn" => {
                return Err(format!("{}: unexpected inline policy", res.address()));
            }
            "aws_iam_role" => {
                for forbidden in ["managed_policy_arns", "inline_policy"] {
                    if attr_expr(&res.body, forbidden).is_some()
                        || res.body.blocks().any(|b| b.identifier() == forbidden)
                    {
                        return Err(format!(
                            "{}: {forbidden} grants outside the checked policy documents",
                            res.address()
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Small helpers

fn read(path: &Path) -> R<String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `a/b/../c` -> `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
