//! The saga over the real adapters: the step handlers called in saga order
//! against moto, the records checked after each step, compensation checked
//! after a failure at each step, the approval e-mail read back from SNS, the
//! approval callback resuming a real (moto) execution, and every AWS call each
//! function makes checked against its `functions/<fn>/aws-permissions.json`.
//!
//! moto runs no Lambda functions, so the state machine here is a small one
//! that hands its task token to an SQS queue (what `request-approval` receives
//! in AWS) and waits; the handlers are called in the order the real state
//! machine would call them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use lambda_runtime::Diagnostic;
use saga_apigw::http::Method;
use saga_aws::audit::{AwsCall, CallRecorder};
use saga_aws::config::topic_logical_name;
use saga_aws::{DynamoStore, SfnWorkflow, SnsNotifier, TableName, Tables, TopicArns};
use saga_core::approval::{ApprovalStatus, TaskToken};
use saga_core::fixtures::{demo_catalog, order_body};
use saga_core::order::Sku;
use saga_core::ports::{ApprovalStore, Catalog, CatalogAdmin, OrderStore, Topic};
use saga_core::providers::{SimulatedCarrier, SimulatedPayments};
use saga_core::{ApprovalId, Clock, ManualClock, Order, OrderId, OrderStatus, SystemClock};
use serde_json::{Value, json};

use crate::support::{Fault, Moto, Queue};
use crate::workflow::{execution_arn, finished, token_machine};

mod redelivery;

const BASE_URL: &str = "https://orders.example.com";

/// The environment each function is deployed with (its `ENV_VARS`, which the
/// workspace tests check against main.rs and Terraform): the tests configure
/// each function's adapters with exactly these tables, topics and ARN.
fn env_vars_of(function: &str) -> &'static [&'static str] {
    match function {
        "validate" => validate::ENV_VARS,
        "reserve" => reserve::ENV_VARS,
        "pay" => pay::ENV_VARS,
        "ship" => ship::ENV_VARS,
        "compensate" => compensate::ENV_VARS,
        "request-approval" => request_approval::ENV_VARS,
        "approval-callback" => approval_callback::ENV_VARS,
        "api-handler" => api_handler::ENV_VARS,
        other => panic!("unknown function {other}"),
    }
}

const FUNCTIONS: [&str; 8] = [
    "validate",
    "reserve",
    "pay",
    "ship",
    "compensate",
    "request-approval",
    "approval-callback",
    "api-handler",
];

/// Calls a handler makes that its permission list does not cover, known and
/// reported. The test fails when one of them is fixed (remove it here) or a new
/// one appears: `(function, action, logical resource)`.
const KNOWN_FINDINGS: &[(&str, &str, &str)] = &[];

/// One function as deployed: its own clients, its own tables, its recorder.
struct Function {
    name: &'static str,
    recorder: CallRecorder,
    store: Arc<DynamoStore>,
    notifier: Arc<SnsNotifier>,
    workflow: Arc<SfnWorkflow>,
}

struct World {
    moto: Moto,
    tables: Tables,
    /// Reads and seeds records; not one of the functions (not recorded).
    admin: DynamoStore,
    approvals_topic: String,
    approval_mail: Queue,
    tokens: Queue,
    seen_tokens: Mutex<HashMap<String, String>>,
    state_machine: String,
    clock: Arc<ManualClock>,
    functions: BTreeMap<&'static str, Function>,
}

impl World {
    async fn new() -> Self {
        Self::with_faults(&[]).await
    }

    /// A world where `function`'s DynamoDB / SNS / SFN client answers with a fault.
    async fn with_faults(faults: &[(&'static str, Service, Fault)]) -> Self {
        let moto = Moto::connect().await;
        let tables = moto.tables(&TableName::ALL).await;
        let admin =
            DynamoStore::from_client(aws_sdk_dynamodb::Client::new(&moto.sdk), tables.clone());
        for p in demo_catalog() {
            admin.upsert_product(&p).await.unwrap();
        }
        let approvals_topic = moto.topic("approvals").await;
        let approval_mail = moto.subscribed_queue(&approvals_topic, true).await;
        let tokens = moto.queue("tokens").await;
        let state_machine = token_machine(&moto, &tokens, 3600).await;
        let clock = Arc::new(ManualClock::new(SystemClock.now()));

        let mut functions = BTreeMap::new();
        for name in FUNCTIONS {
            let recorder = CallRecorder::new();
            let fault = |service: Service| {
                faults
                    .iter()
                    .find(|(f, s, _)| *f == name && *s == service)
                    .map(|(_, _, fault)| fault.clone())
            };
            let ddb = {
                let mut b = aws_sdk_dynamodb::config::Builder::from(&moto.sdk)
                    .interceptor(recorder.clone());
                if let Some(f) = fault(Service::DynamoDb) {
                    b = b
                        .interceptor(f)
                        .retry_config(aws_smithy_types::retry::RetryConfig::disabled());
                }
                aws_sdk_dynamodb::Client::from_conf(b.build())
            };
            let sns = aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(&moto.sdk)
                    .interceptor(recorder.clone())
                    .build(),
            );
            let sfn = {
                let mut b =
                    aws_sdk_sfn::config::Builder::from(&moto.sdk).interceptor(recorder.clone());
                if let Some(f) = fault(Service::Sfn) {
                    b = b
                        .interceptor(f)
                        .retry_config(aws_smithy_types::retry::RetryConfig::disabled());
                }
                aws_sdk_sfn::Client::from_conf(b.build())
            };
            let env = env_vars_of(name);
            let mut own = Tables::new();
            for t in TableName::ALL
                .into_iter()
                .filter(|t| env.contains(&t.env_var()))
            {
                own = own.with(t, tables.name(t).unwrap());
            }
            let store = Arc::new(DynamoStore::from_client(ddb, own));
            // As main.rs does during init.
            store.warm_up().await.unwrap();
            let mut topics = TopicArns::new();
            if env.contains(&saga_aws::config::topic_env_var(Topic::Approvals)) {
                topics = topics.with(Topic::Approvals, &approvals_topic);
            }
            // Without STATE_MACHINE_ARN the adapter only resumes tasks
            // (SfnWorkflow::for_task_callbacks).
            let workflow = if env.contains(&saga_aws::config::STATE_MACHINE_ARN_VAR) {
                SfnWorkflow::from_client(sfn, &state_machine)
            } else {
                SfnWorkflow::task_callbacks_from_client(sfn)
            };
            functions.insert(
                name,
                Function {
                    name,
                    recorder,
                    store,
                    notifier: Arc::new(SnsNotifier::from_client(sns, topics)),
                    workflow: Arc::new(workflow),
                },
            );
        }
        Self {
            moto,
            tables,
            admin,
            approvals_topic,
            approval_mail,
            tokens,
            seen_tokens: Mutex::new(HashMap::new()),
            state_machine,
            clock,
            functions,
        }
    }

    fn f(&self, name: &str) -> &Function {
        &self.functions[name]
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    // --- the handlers, wired as their main.rs wires them -------------------

    async fn post_order(&self, body: &Value, key: Option<&str>) -> saga_apigw::Response {
        let f = self.f("api-handler");
        let deps = api_handler::Deps {
            orders: f.store.clone(),
            idempotency: f.store.clone(),
            workflow: f.workflow.clone(),
            clock: self.clock(),
            public_base_url: Some(BASE_URL.to_owned()),
            max_open_orders_per_customer: api_handler::DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER,
        };
        let mut headers = vec![("content-type", "application/json")];
        if let Some(k) = key {
            headers.push(("idempotency-key", k));
        }
        let body = body.to_string();
        let req = saga_apigw::event(Method::POST, "/orders", &headers, Some(body.as_bytes()));
        let resp = api_handler::respond(&deps, req).await;
        self.check_permissions(f);
        resp
    }

    async fn get_order_view(&self, id: &OrderId) -> (u16, Value) {
        let f = self.f("api-handler");
        let deps = api_handler::Deps {
            orders: f.store.clone(),
            idempotency: f.store.clone(),
            workflow: f.workflow.clone(),
            clock: self.clock(),
            public_base_url: Some(BASE_URL.to_owned()),
            max_open_orders_per_customer: api_handler::DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER,
        };
        let req = saga_apigw::event(Method::GET, &format!("/orders/{id}"), &[], None);
        let resp = api_handler::respond(&deps, req).await;
        self.check_permissions(f);
        (resp.status_code as u16, json_body(&resp))
    }

    async fn validate(&self, id: &OrderId) -> Result<validate::Output, validate::Error> {
        let f = self.f("validate");
        let deps = validate::Deps {
            orders: f.store.clone(),
            catalog: f.store.clone(),
            clock: self.clock(),
            approval_threshold: saga_core::pricing::default_approval_threshold(),
        };
        let out = validate::handle(
            &deps,
            validate::Input {
                order_id: id.clone(),
            },
        )
        .await;
        self.check_permissions(f);
        out
    }

    async fn reserve(&self, id: &OrderId) -> Result<reserve::Output, reserve::Error> {
        let f = self.f("reserve");
        let deps = reserve::Deps {
            orders: f.store.clone(),
            stock: f.store.clone(),
            clock: self.clock(),
        };
        let out = reserve::handle(
            &deps,
            reserve::Input {
                order_id: id.clone(),
            },
        )
        .await;
        self.check_permissions(f);
        out
    }

    async fn pay(&self, id: &OrderId) -> Result<pay::Output, pay::Error> {
        let f = self.f("pay");
        let deps = pay::Deps {
            orders: f.store.clone(),
            payments: Arc::new(SimulatedPayments::new(f.store.clone())),
            clock: self.clock(),
        };
        let out = pay::handle(
            &deps,
            pay::Input {
                order_id: id.clone(),
            },
        )
        .await;
        self.check_permissions(f);
        out
    }

    async fn ship(&self, id: &OrderId) -> Result<ship::Output, ship::Error> {
        let f = self.f("ship");
        let deps = ship::Deps {
            orders: f.store.clone(),
            carrier: Arc::new(SimulatedCarrier),
            clock: self.clock(),
        };
        let out = ship::handle(
            &deps,
            ship::Input {
                order_id: id.clone(),
            },
        )
        .await;
        self.check_permissions(f);
        out
    }

    /// Compensate after `error` as the state machine's Catch hands it over:
    /// `{"Error": errorType, "Cause": "{\"errorType\",\"errorMessage\"}"}`.
    async fn compensate(
        &self,
        id: &OrderId,
        error: Diagnostic,
    ) -> Result<compensate::Output, compensate::Error> {
        let f = self.f("compensate");
        let deps = compensate::Deps {
            orders: f.store.clone(),
            stock: f.store.clone(),
            payments: Arc::new(SimulatedPayments::new(f.store.clone())),
            carrier: Arc::new(SimulatedCarrier),
            clock: self.clock(),
        };
        let cause = json!({"errorType": error.error_type, "errorMessage": error.error_message});
        let input = compensate::Input {
            order_id: id.clone(),
            error: compensate::CaughtError {
                error: error.error_type.clone(),
                cause: Some(cause.to_string()),
            },
        };
        let out = compensate::handle(&deps, input).await;
        self.check_permissions(f);
        out
    }

    async fn request_approval(
        &self,
        id: &OrderId,
        token: TaskToken,
    ) -> Result<request_approval::Output, request_approval::Error> {
        let f = self.f("request-approval");
        let deps = request_approval::Deps {
            orders: f.store.clone(),
            approvals: f.store.clone(),
            notifier: f.notifier.clone(),
            clock: self.clock(),
            public_base_url: BASE_URL.to_owned(),
        };
        let input = request_approval::Input {
            order_id: id.clone(),
            task_token: token,
            timeout_seconds: Some(3600),
        };
        let out = request_approval::handle(&deps, input).await;
        self.check_permissions(f);
        out
    }

    async fn approval_request(
        &self,
        method: Method,
        target: &str,
        form: Option<&str>,
    ) -> saga_apigw::Response {
        let f = self.f("approval-callback");
        let deps = approval_callback::Deps {
            approvals: f.store.clone(),
            orders: f.store.clone(),
            workflow: f.workflow.clone(),
            clock: self.clock(),
        };
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        let req = saga_apigw::event(method, target, &headers, form.map(str::as_bytes));
        let resp = approval_callback::respond(&deps, req).await;
        self.check_permissions(f);
        resp
    }

    async fn decide(&self, approval_id: &ApprovalId, decision: &str) -> u16 {
        let resp = self
            .approval_request(
                Method::POST,
                &format!("/approvals/{approval_id}"),
                Some(&format!("decision={decision}")),
            )
            .await;
        resp.status_code as u16
    }

    // --- records --------------------------------------------------------

    async fn order(&self, id: &OrderId) -> Order {
        OrderStore::get(&self.admin, id)
            .await
            .unwrap()
            .expect("the order exists")
    }

    async fn approval(&self, id: &ApprovalId) -> saga_core::Approval {
        ApprovalStore::get(&self.admin, id)
            .await
            .unwrap()
            .expect("the approval exists")
    }

    async fn stock(&self) -> BTreeMap<String, i64> {
        let skus: Vec<Sku> = demo_catalog().into_iter().map(|p| p.sku).collect();
        self.admin
            .products(&skus)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.sku.to_string(), p.stock))
            .collect()
    }

    async fn execution_status(&self, id: &OrderId) -> (ExecutionStatus, Option<String>) {
        let d = aws_sdk_sfn::Client::new(&self.moto.sdk)
            .describe_execution()
            .execution_arn(execution_arn(&self.state_machine, id.as_str()))
            .send()
            .await
            .unwrap();
        (d.status, d.output)
    }

    async fn executions_named(&self, id: &OrderId) -> usize {
        aws_sdk_sfn::Client::new(&self.moto.sdk)
            .list_executions()
            .state_machine_arn(&self.state_machine)
            .send()
            .await
            .unwrap()
            .executions
            .iter()
            .filter(|e| e.name == id.as_str())
            .count()
    }

    /// The approval e-mail about `id`, as SNS delivered it.
    async fn mail_for(&self, id: &OrderId) -> String {
        for _ in 0..10 {
            let found = self
                .approval_mail
                .receive(1, Duration::from_secs(2))
                .await
                .into_iter()
                .find(|m| m.contains(id.as_str()));
            if let Some(m) = found {
                return m;
            }
        }
        panic!("no approval e-mail about {id}");
    }

    /// The raw task token the execution of `id` is waiting on.
    async fn token_for(&self, id: &OrderId) -> String {
        for _ in 0..20 {
            if let Some(t) = self.seen_tokens.lock().unwrap().get(id.as_str()) {
                return t.clone();
            }
            for body in self.tokens.receive(1, Duration::from_secs(2)).await {
                let v: Value = serde_json::from_str(&body).unwrap();
                self.seen_tokens.lock().unwrap().insert(
                    v["orderId"].as_str().unwrap().to_owned(),
                    v["taskToken"].as_str().unwrap().to_owned(),
                );
            }
        }
        panic!("no task token for {id}");
    }

    /// Every call `f` made so far is covered by its permission list, apart
    /// from [`KNOWN_FINDINGS`].
    fn check_permissions(&self, f: &Function) {
        let unexpected: Vec<String> = self
            .violations(f)
            .into_iter()
            .filter(|(action, resource)| {
                !KNOWN_FINDINGS.contains(&(f.name, action.as_str(), resource.as_str()))
            })
            .map(|(a, r)| format!("{a} on {r}"))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{} calls what functions/{}/aws-permissions.json does not allow: {unexpected:?}",
            f.name,
            f.name
        );
    }

    /// `(action, logical resource)` of the calls `f` made that its list misses.
    fn violations(&self, f: &Function) -> Vec<(String, String)> {
        let allowed = permissions(f.name);
        let mut out = Vec::new();
        for AwsCall { action, resource } in f.recorder.calls() {
            let logical = match resource.as_deref() {
                None => None,
                Some(r) if r == self.state_machine => Some("state_machine".to_owned()),
                Some(r) if is_execution_of(&self.state_machine, r) => {
                    Some("state_machine_executions".to_owned())
                }
                Some(r) if r == self.approvals_topic => {
                    Some(topic_logical_name(Topic::Approvals).to_owned())
                }
                Some(r) => Some(
                    self.tables
                        .table_named(r)
                        .map(|t| t.logical_name().to_owned())
                        .unwrap_or_else(|| format!("unknown resource {r}")),
                ),
            };
            let ok = match (allowed.get(&action), &logical) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(resources), Some(l)) => resources.contains(l),
            };
            if !ok {
                let v = (action, logical.unwrap_or_else(|| "*".into()));
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    DynamoDb,
    Sfn,
}

/// Whether `arn` names an execution of `state_machine` (`arn:…:execution:M:*`,
/// the resource `state_machine_executions` grants).
fn is_execution_of(state_machine: &str, arn: &str) -> bool {
    execution_arn(state_machine, "")
        .strip_suffix(':')
        .and_then(|prefix| arn.strip_prefix(prefix))
        .is_some_and(|rest| rest.starts_with(':'))
}

/// `functions/<fn>/aws-permissions.json`: action → logical resources.
fn permissions(function: &str) -> HashMap<String, Vec<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../functions")
        .join(function)
        .join("aws-permissions.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_body(resp: &saga_apigw::Response) -> Value {
    serde_json::from_slice(&saga_apigw::response_body(resp)).unwrap_or(Value::Null)
}

fn text_body(resp: &saga_apigw::Response) -> String {
    String::from_utf8_lossy(&saga_apigw::response_body(resp)).into_owned()
}

/// POST an order; its id (202 expected).
async fn accepted(w: &World, body: &Value, key: Option<&str>) -> OrderId {
    let resp = w.post_order(body, key).await;
    assert_eq!(resp.status_code, 202, "{}", text_body(&resp));
    let v = json_body(&resp);
    assert_eq!(v["status"], "RECEIVED");
    OrderId::parse(v["orderId"].as_str().unwrap()).unwrap()
}

fn statuses(order: &Order) -> Vec<&'static str> {
    order.history().iter().map(|h| h.status.as_str()).collect()
}

fn initial_stock() -> BTreeMap<String, i64> {
    demo_catalog()
        .into_iter()
        .map(|p| (p.sku.to_string(), p.stock))
        .collect()
}

fn with(mut stock: BTreeMap<String, i64>, changes: &[(&str, i64)]) -> BTreeMap<String, i64> {
    for (sku, delta) in changes {
        *stock.get_mut(*sku).unwrap() += delta;
    }
    stock
}

#[tokio::test]
async fn a_small_order_runs_the_whole_saga_and_each_step_is_idempotent() {
    let w = World::new().await;
    let body = order_body(&[("SKU-1", 2), ("SKU-2", 1)], "tok_visa", "10115");

    let resp = w.post_order(&body, Some("key-small")).await;
    assert_eq!(resp.status_code, 202, "{}", text_body(&resp));
    let id = OrderId::parse(json_body(&resp)["orderId"].as_str().unwrap()).unwrap();
    assert_eq!(
        saga_apigw::response_header(&resp, "location"),
        Some(format!("{BASE_URL}/orders/{id}").as_str())
    );
    assert_eq!(w.order(&id).await.status(), OrderStatus::Received);
    assert_eq!(
        w.executions_named(&id).await,
        1,
        "the saga started, named by the order id"
    );

    let v = w.validate(&id).await.unwrap();
    assert_eq!(v.total_cents, 2 * 1_999 + 4_950);
    assert!(!v.requires_approval);
    let o = w.order(&id).await;
    assert_eq!(o.status(), OrderStatus::Validated);
    assert_eq!(o.pricing().unwrap().total.minor_units(), v.total_cents);

    let r = w.reserve(&id).await.unwrap();
    assert_eq!(r.reserved.len(), 2);
    assert_eq!(w.order(&id).await.status(), OrderStatus::Reserved);
    let reserved = with(initial_stock(), &[("SKU-1", -2), ("SKU-2", -1)]);
    assert_eq!(w.stock().await, reserved);

    let p = w.pay(&id).await.unwrap();
    assert_eq!(p.charge_id, format!("ch_{id}"));
    let o = w.order(&id).await;
    assert_eq!(o.status(), OrderStatus::Paid);
    assert_eq!(o.payment().unwrap().amount.minor_units(), v.total_cents);

    let s = w.ship(&id).await.unwrap();
    assert_eq!(s.tracking_number, format!("TRK{id}"));
    let o = w.order(&id).await;
    assert_eq!(o.status(), OrderStatus::Completed);
    assert_eq!(
        statuses(&o),
        ["RECEIVED", "VALIDATED", "RESERVED", "PAID", "COMPLETED"]
    );

    // A retried or duplicated invocation of any step changes nothing.
    assert_eq!(w.validate(&id).await.unwrap(), v);
    assert_eq!(w.reserve(&id).await.unwrap(), r);
    assert_eq!(w.pay(&id).await.unwrap(), p);
    assert_eq!(w.ship(&id).await.unwrap(), s);
    assert_eq!(w.stock().await, reserved, "stock taken once");
    assert_eq!(w.order(&id).await, o);

    let (status, view) = w.get_order_view(&id).await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "COMPLETED");
    assert_eq!(view["totalCents"], v.total_cents);
    assert_eq!(view["trackingNumber"], s.tracking_number.as_str());
    assert_eq!(view["history"].as_array().unwrap().len(), 5);
    let (status, _) = w.get_order_view(&OrderId::generate(w.clock.now())).await;
    assert_eq!(status, 404);
}

/// A big order up to AWAITING_APPROVAL: (id, raw task token, approval id, mail body).
async fn awaiting_approval(w: &World, key: &str) -> (OrderId, String, ApprovalId, String) {
    let id = accepted(
        w,
        &order_body(&[("SKU-4", 1)], "tok_visa", "10115"),
        Some(key),
    )
    .await;
    assert!(w.validate(&id).await.unwrap().requires_approval);
    w.reserve(&id).await.unwrap();
    let raw_token = w.token_for(&id).await;

    let out = w
        .request_approval(&id, TaskToken::new(raw_token.clone()).unwrap())
        .await
        .unwrap();

    let o = w.order(&id).await;
    assert_eq!(o.status(), OrderStatus::AwaitingApproval);
    assert!(o.approval().unwrap().notified);
    let approval = w.approval(&out.approval_id).await;
    assert_eq!(approval.status, ApprovalStatus::Pending);
    assert_eq!(approval.order_id, id);
    let mail = w.mail_for(&id).await;
    (id, raw_token, out.approval_id, mail)
}

#[tokio::test]
async fn a_big_order_is_approved_once_through_the_e_mailed_link() {
    let w = World::new().await;
    let (id, raw_token, approval_id, mail) = awaiting_approval(&w, "key-big").await;

    // The e-mail: links to the confirmation page, the order, the total; never the token.
    let approve = format!("{BASE_URL}/approvals/{approval_id}?decision=approve");
    let reject = format!("{BASE_URL}/approvals/{approval_id}?decision=reject");
    assert!(mail.contains(&approve), "{mail}");
    assert!(mail.contains(&reject), "{mail}");
    assert!(mail.contains("1490.00 EUR"), "{mail}");
    assert!(
        !mail.contains(&raw_token),
        "the task token must not be e-mailed"
    );
    let approval_item = w
        .moto
        .raw_item(
            w.tables.name(TableName::Approvals).unwrap(),
            "approvalId",
            approval_id.as_str(),
        )
        .await
        .unwrap();
    assert!(approval_item.contains_key("taskToken"), "kept server-side");

    // Following the link shows a page and decides nothing (mail scanners).
    let page = w
        .approval_request(
            Method::GET,
            &format!("/approvals/{approval_id}?decision=approve"),
            None,
        )
        .await;
    assert_eq!(page.status_code, 200);
    assert!(text_body(&page).contains(id.as_str()));
    assert_eq!(
        w.approval(&approval_id).await.status,
        ApprovalStatus::Pending
    );
    assert!(!text_body(&page).contains(&raw_token));

    // Confirming decides and resumes the execution.
    assert_eq!(w.decide(&approval_id, "approve").await, 200);
    let (status, output) = finished(&w.moto, &execution_arn(&w.state_machine, id.as_str())).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(&output.unwrap()).unwrap();
    assert_eq!(output["approved"], true);
    let a = w.approval(&approval_id).await;
    assert_eq!((a.status, a.delivered), (ApprovalStatus::Approved, true));
    assert_eq!(w.order(&id).await.status(), OrderStatus::Approved);

    // Each approval decides once.
    assert_eq!(w.decide(&approval_id, "reject").await, 409);
    assert_eq!(w.decide(&approval_id, "approve").await, 409);
    assert_eq!(w.order(&id).await.status(), OrderStatus::Approved);

    w.pay(&id).await.unwrap();
    w.ship(&id).await.unwrap();
    let o = w.order(&id).await;
    assert_eq!(
        statuses(&o),
        [
            "RECEIVED",
            "VALIDATED",
            "RESERVED",
            "AWAITING_APPROVAL",
            "APPROVED",
            "PAID",
            "COMPLETED"
        ]
    );
    assert_eq!(w.stock().await, with(initial_stock(), &[("SKU-4", -1)]));
}

#[tokio::test]
async fn a_rejected_order_is_compensated_and_its_stock_released() {
    let w = World::new().await;
    let (id, _, approval_id, _) = awaiting_approval(&w, "key-reject").await;
    assert_eq!(w.stock().await, with(initial_stock(), &[("SKU-4", -1)]));

    assert_eq!(w.decide(&approval_id, "reject").await, 200);
    let (status, output) = finished(&w.moto, &execution_arn(&w.state_machine, id.as_str())).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(
        serde_json::from_str::<Value>(&output.unwrap()).unwrap()["approved"],
        false
    );

    // The state machine turns {approved: false} into ApprovalRejected.
    let out = w
        .compensate(
            &id,
            Diagnostic {
                error_type: "ApprovalRejected".into(),
                error_message: "the approver rejected the order".into(),
            },
        )
        .await
        .unwrap();

    assert_eq!(out.status, OrderStatus::Rejected);
    assert_eq!(out.undone, ["stockReleased"]);
    assert_eq!(w.stock().await, initial_stock());
    let o = w.order(&id).await;
    assert_eq!(o.status(), OrderStatus::Rejected);
    assert_eq!(o.failure().unwrap().error, "ApprovalRejected");
    assert!(o.payment().is_none());
}

#[tokio::test]
async fn an_unknown_or_used_task_token_answers_410() {
    let w = World::new().await;
    // Order A is approved: its token is used.
    let (a, token_a, approval_a, _) = awaiting_approval(&w, "key-a").await;
    assert_eq!(w.decide(&approval_a, "approve").await, 200);
    finished(&w.moto, &execution_arn(&w.state_machine, a.as_str())).await;

    // Order B's approval carries A's used token; order C's an unknown one.
    for (key, token) in [
        ("key-b", token_a.clone()),
        ("key-c", "AAAAKgAAAAIAAAAAAAAAAXunknown".to_owned()),
    ] {
        let id = accepted(
            &w,
            &order_body(&[("SKU-4", 1)], "tok_visa", "10115"),
            Some(key),
        )
        .await;
        w.validate(&id).await.unwrap();
        w.reserve(&id).await.unwrap();
        let out = w
            .request_approval(&id, TaskToken::new(token).unwrap())
            .await
            .unwrap();

        let status = w.decide(&out.approval_id, "approve").await;

        assert_eq!(status, 410, "{key}: Step Functions says the task is gone");
        let approval = w.approval(&out.approval_id).await;
        assert_eq!(approval.status, ApprovalStatus::Expired, "{key}");
        assert!(!approval.delivered);
    }
}

#[tokio::test]
async fn an_approval_past_its_expiry_answers_410() {
    let w = World::new().await;
    let (id, _, approval_id, _) = awaiting_approval(&w, "key-late").await;

    w.clock.advance(Duration::from_secs(3600));
    let status = w.decide(&approval_id, "approve").await;

    assert_eq!(status, 410);
    assert_eq!(
        w.approval(&approval_id).await.status,
        ApprovalStatus::Expired
    );
    assert_eq!(w.order(&id).await.status(), OrderStatus::AwaitingApproval);
    assert_eq!(
        w.execution_status(&id).await.0,
        ExecutionStatus::Running,
        "nothing was sent"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_is_the_same_order_and_one_execution() {
    let w = World::new().await;
    let body = order_body(&[("SKU-1", 1)], "tok_visa", "10115");

    let first = accepted(&w, &body, Some("key-1")).await;
    let replay = w.post_order(&body, Some("key-1")).await;
    let other_body = w
        .post_order(
            &order_body(&[("SKU-1", 2)], "tok_visa", "10115"),
            Some("key-1"),
        )
        .await;
    let no_key = accepted(&w, &body, None).await;

    assert_eq!(replay.status_code, 202);
    assert_eq!(json_body(&replay)["orderId"], first.as_str());
    assert_eq!(
        saga_apigw::response_header(&replay, "idempotent-replayed"),
        Some("true")
    );
    assert_eq!(
        w.executions_named(&first).await,
        1,
        "StartExecution twice, one execution"
    );
    assert_eq!(other_body.status_code, 422, "{}", text_body(&other_body));
    assert_ne!(no_key, first);
    let started = w
        .f("api-handler")
        .recorder
        .calls()
        .iter()
        .filter(|c| c.action == "states:StartExecution")
        .count();
    assert_eq!(
        started, 3,
        "the replay asked again; Step Functions refused a second execution"
    );
}

/// Run the saga until `fails` fails; the error as the state machine sees it.
async fn run_until_failure(w: &World, id: &OrderId, fails: &str) -> Diagnostic {
    let v = w.validate(id).await;
    if fails == "validate" {
        return v.unwrap_err().into();
    }
    v.unwrap();
    let r = w.reserve(id).await;
    if fails == "reserve" {
        return r.unwrap_err().into();
    }
    r.unwrap();
    let p = w.pay(id).await;
    if fails == "pay" {
        return p.unwrap_err().into();
    }
    p.unwrap();
    let s = w.ship(id).await;
    if fails == "ship" {
        return s.unwrap_err().into();
    }
    panic!("expected {fails} to fail, the saga completed: {s:?}");
}

struct FailureCase {
    step: &'static str,
    items: &'static [(&'static str, u32)],
    token: &'static str,
    postal_code: &'static str,
    error: &'static str,
    undone: &'static [&'static str],
}

async fn failure_is_compensated(case: FailureCase) {
    let w = World::new().await;
    let id = accepted(
        &w,
        &order_body(case.items, case.token, case.postal_code),
        None,
    )
    .await;

    let diag = run_until_failure(&w, &id, case.step).await;
    assert_eq!(
        diag.error_type, case.error,
        "{}: {}",
        case.step, diag.error_message
    );
    let before = w.order(&id).await;

    let out = w.compensate(&id, diag).await.unwrap();

    assert_eq!(out.status, OrderStatus::Failed, "{}", case.step);
    assert_eq!(out.undone, case.undone, "{}", case.step);
    assert_eq!(out.error, case.error);
    assert_eq!(
        w.stock().await,
        initial_stock(),
        "{}: stock back where it was",
        case.step
    );
    let o = w.order(&id).await;
    assert_eq!(o.status(), OrderStatus::Failed);
    assert_eq!(o.failure().unwrap().error, case.error);
    // The ledger: a charge is refunded exactly when there was one.
    assert_eq!(
        o.payment().is_some(),
        before.payment().is_some(),
        "{}",
        case.step
    );
    if let Some(p) = o.payment() {
        assert_eq!(p.refund.as_ref().unwrap().refund_id, format!("re_{id}"));
    }
    if let Some(s) = o.shipment() {
        assert!(s.cancelled_at.is_some());
    }

    // Compensation is idempotent: a second run undoes nothing twice.
    let again = w
        .compensate(
            &id,
            Diagnostic {
                error_type: case.error.into(),
                error_message: "retry".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(again.status, OrderStatus::Failed);
    assert_eq!(again.undone, case.undone);
    assert_eq!(
        w.stock().await,
        initial_stock(),
        "{}: released once",
        case.step
    );
    assert_eq!(w.order(&id).await, o);
}

#[tokio::test]
async fn a_validation_failure_is_compensated_with_nothing_to_undo() {
    failure_is_compensated(FailureCase {
        step: "validate",
        items: &[("SKU-1", 1), ("SKU-404", 1)],
        token: "tok_visa",
        postal_code: "10115",
        error: "ValidationError",
        undone: &[],
    })
    .await;
}

#[tokio::test]
async fn an_out_of_stock_failure_takes_nothing() {
    failure_is_compensated(FailureCase {
        step: "reserve",
        items: &[("SKU-1", 1), ("SKU-3", 11)],
        token: "tok_visa",
        postal_code: "10115",
        error: "OutOfStock",
        undone: &[],
    })
    .await;
}

#[tokio::test]
async fn a_declined_payment_releases_the_stock() {
    failure_is_compensated(FailureCase {
        step: "pay",
        items: &[("SKU-1", 3), ("SKU-2", 2)],
        token: "tok_declined",
        postal_code: "10115",
        error: "PaymentDeclined",
        undone: &["stockReleased"],
    })
    .await;
}

#[tokio::test]
async fn a_refused_shipment_refunds_and_releases() {
    failure_is_compensated(FailureCase {
        step: "ship",
        items: &[("SKU-2", 1), ("SKU-3", 2)],
        token: "tok_visa",
        postal_code: "00000",
        error: "ShippingFailed",
        undone: &["paymentRefunded", "stockReleased"],
    })
    .await;
}

#[tokio::test]
async fn a_flaky_payment_fails_once_then_succeeds() {
    let w = World::new().await;
    let id = accepted(&w, &order_body(&[("SKU-1", 1)], "tok_flaky", "10115"), None).await;
    w.validate(&id).await.unwrap();
    w.reserve(&id).await.unwrap();

    let first = w.pay(&id).await.unwrap_err();
    let second = w.pay(&id).await.unwrap();

    assert_eq!(first.error_name(), "PaymentUnavailable");
    assert_eq!(second.charge_id, format!("ch_{id}"));
    let o = w.order(&id).await;
    assert_eq!(o.payment_attempts(), 2);
    assert_eq!(o.status(), OrderStatus::Paid);
}

#[tokio::test]
async fn a_failed_refund_leaves_the_order_needing_attention() {
    let w = World::new().await;
    let id = accepted(
        &w,
        &order_body(&[("SKU-2", 1)], "tok_refund_fails", "00000"),
        None,
    )
    .await;
    let diag = run_until_failure(&w, &id, "ship").await;

    let err = w.compensate(&id, diag).await.unwrap_err();

    assert_eq!(err.error_name(), "CompensationFailed");
    let o = w.order(&id).await;
    assert_eq!(o.status(), OrderStatus::NeedsAttention);
    assert_eq!(o.failure().unwrap().error, "CompensationFailed");
    assert!(o.payment().unwrap().refund.is_none(), "nothing refunded");
    assert!(
        o.reservation().unwrap().released_at.is_none(),
        "stock not yet released"
    );
    assert_eq!(w.stock().await, with(initial_stock(), &[("SKU-2", -1)]));
}

#[tokio::test]
async fn storage_throttling_reaches_the_state_machine_as_transient() {
    let conflict = Fault::json(
        "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        400,
        json!({"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]}),
        1,
    )
    .on("TransactWriteItems");
    let throttled = Fault::json(
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        400,
        json!({}),
        1,
    )
    .on("BatchGetItem");
    let w = World::with_faults(&[
        ("reserve", Service::DynamoDb, conflict),
        ("validate", Service::DynamoDb, throttled),
    ])
    .await;
    let id = accepted(&w, &order_body(&[("SKU-1", 1)], "tok_visa", "10115"), None).await;

    let v = Diagnostic::from(w.validate(&id).await.unwrap_err());
    assert_eq!(v.error_type, "Transient", "{}", v.error_message);
    w.validate(&id).await.unwrap();
    // The injected answer replaces the real one: the real transaction
    // committed, so the retry finds the order reserved and takes nothing more.
    let r = Diagnostic::from(w.reserve(&id).await.unwrap_err());
    assert_eq!(r.error_type, "Transient", "{}", r.error_message);
    w.reserve(&id).await.unwrap();
    assert_eq!(w.stock().await, with(initial_stock(), &[("SKU-1", -1)]));
}

#[tokio::test]
async fn an_order_whose_start_answer_was_lost_is_accepted_not_failed() {
    // StartExecution started the execution but its answer is an error (the
    // SDK's last attempt timed out after an earlier one succeeded).
    let w = World::with_faults(&[(
        "api-handler",
        Service::Sfn,
        Fault::json("ThrottlingException", 400, json!({}), 1).on("StartExecution"),
    )])
    .await;

    let resp = w
        .post_order(&order_body(&[("SKU-1", 1)], "tok_visa", "10115"), None)
        .await;

    assert_eq!(resp.status_code, 202, "{}", text_body(&resp));
    let id = OrderId::parse(json_body(&resp)["orderId"].as_str().unwrap()).unwrap();
    assert_eq!(w.execution_status(&id).await.0, ExecutionStatus::Running);
    let order = w.order(&id).await;
    assert_eq!(
        order.status(),
        OrderStatus::Received,
        "left to its execution"
    );
    // It asked DescribeExecution of the execution's ARN, which IAM grants.
    let f = w.f("api-handler");
    let execution = execution_arn(&w.state_machine, id.as_str());
    assert!(
        f.recorder
            .calls()
            .iter()
            .any(|c| c.action == "states:DescribeExecution"
                && c.resource.as_deref() == Some(execution.as_str())),
        "{:?}",
        f.recorder.calls()
    );
    assert_eq!(w.violations(f), Vec::<(String, String)>::new());
}

#[tokio::test]
async fn an_order_that_can_not_be_started_without_a_key_is_failed() {
    // StartExecution fails and so does the question whether it ran anyway.
    let w = World::with_faults(&[(
        "api-handler",
        Service::Sfn,
        Fault::json("ThrottlingException", 400, json!({}), 2),
    )])
    .await;

    let resp = w
        .post_order(&order_body(&[("SKU-1", 1)], "tok_visa", "10115"), None)
        .await;

    assert_eq!(resp.status_code, 503, "{}", text_body(&resp));
    // Without a key the client can't resume it: the order is ended.
    let orders = aws_sdk_dynamodb::Client::new(&w.moto.sdk)
        .scan()
        .table_name(w.tables.name(TableName::Orders).unwrap())
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
        .into_iter()
        // The customer's open-order counter shares the table.
        .filter(|i| !i.contains_key(saga_aws::dynamo::open_orders::OPEN_ATTRIBUTE))
        .collect::<Vec<_>>();
    assert_eq!(orders.len(), 1);
    let order = saga_aws::items::order_from_item(orders[0].clone()).unwrap();
    assert_eq!(order.status(), OrderStatus::Failed);
    assert_eq!(order.failure().unwrap().error, "InternalError", "final");
    // give_up() marks the order with UpdateItem, which api-handler's list grants.
    let f = w.f("api-handler");
    let orders_table = w.tables.name(TableName::Orders).unwrap().to_owned();
    assert!(
        f.recorder
            .calls()
            .iter()
            .any(|c| c.action == "dynamodb:UpdateItem"
                && c.resource.as_deref() == Some(orders_table.as_str())),
        "give_up() should have updated the order"
    );
    assert_eq!(w.violations(f), Vec::<(String, String)>::new());
}

#[test]
fn every_function_has_a_permission_list_and_the_known_findings_name_real_entries() {
    for f in FUNCTIONS {
        let p = permissions(f);
        assert!(
            p.contains_key("dynamodb:GetItem"),
            "{f}: warm_up needs GetItem on orders_table"
        );
        assert!(
            p["dynamodb:GetItem"].contains(&"orders_table".to_owned()),
            "{f}"
        );
    }
    for (f, action, resource) in KNOWN_FINDINGS {
        assert!(FUNCTIONS.contains(f));
        assert!(
            !permissions(f)
                .get(*action)
                .is_some_and(|r| r.contains(&resource.to_string())),
            "{f} is now allowed {action} on {resource}: remove it from KNOWN_FINDINGS"
        );
    }
}
