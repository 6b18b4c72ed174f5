//! Each function's `ENV_VARS` is exactly what its `main.rs` reads (Terraform's
//! environment is checked against `ENV_VARS` in `infra.rs`).

use std::collections::BTreeSet;

use regex::Regex;

fn read_by_main(function: &str) -> BTreeSet<String> {
    let path = saga_tests::workspace_root().join(format!("functions/{function}/src/main.rs"));
    let src = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut vars = BTreeSet::new();
    let table = Regex::new(r"TableName::(\w+)").expect("regex");
    for c in table.captures_iter(&src) {
        vars.insert(
            match &c[1] {
                "Orders" => "ORDERS_TABLE",
                "Products" => "PRODUCTS_TABLE",
                "Approvals" => "APPROVALS_TABLE",
                "Idempotency" => "IDEMPOTENCY_TABLE",
                other => panic!("{function}: unknown table {other}"),
            }
            .to_owned(),
        );
    }
    let topic = Regex::new(r"Topic::(\w+)").expect("regex");
    for c in topic.captures_iter(&src) {
        vars.insert(format!("{}_TOPIC_ARN", c[1].to_uppercase()));
    }
    let literal = Regex::new(r#"env::(?:required|parse_or|var)\("([A-Z_]+)""#).expect("regex");
    for c in literal.captures_iter(&src) {
        vars.insert(c[1].to_owned());
    }
    if src.contains("SfnWorkflow::from_env") {
        vars.insert("STATE_MACHINE_ARN".to_owned());
    }
    vars
}

#[test]
fn env_vars_constants_match_what_main_reads() {
    for function in crate::FUNCTIONS {
        let declared: BTreeSet<String> =
            function.env_vars.iter().map(|v| (*v).to_owned()).collect();
        let function = function.name;
        assert_eq!(
            declared,
            read_by_main(function),
            "{function}: ENV_VARS differs from what main.rs reads"
        );
    }
}
