//! The harness side of the contract tests: moto's endpoint, SDK clients with a
//! call recorder, per-test tables / topics / queues with unique names (so tests
//! run in parallel without resetting moto), fault injection.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use saga_aws::audit::{AwsCall, CallRecorder};
use saga_aws::{TableName, Tables, schema};
use serde_json::{Value, json};

pub const MOTO_MISSING: &str =
    "MOTO_ENDPOINT is not set: run through scripts/with-moto.sh (make test-aws)";

/// moto's base URL, or a panic telling how to run these tests.
pub fn moto_endpoint() -> String {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("{MOTO_MISSING}"),
    }
}

/// A name no other test (of this run) uses: `ct-<pid>-<n>`.
pub fn unique(what: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "ct-{}-{}-{what}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One test's view of moto: the SDK configuration loaded the production way
/// (`saga_aws::load_sdk_config`, which reads `AWS_ENDPOINT_URL`) and a recorder
/// of every call the clients built here make.
pub struct Moto {
    pub sdk: SdkConfig,
    pub recorder: CallRecorder,
}

impl Moto {
    pub async fn connect() -> Self {
        let endpoint = moto_endpoint();
        let sdk = saga_aws::load_sdk_config().await;
        // Never run these tests against anything but moto.
        assert_eq!(
            sdk.endpoint_url(),
            Some(endpoint.as_str()),
            "AWS_ENDPOINT_URL must point at moto ({endpoint}); {MOTO_MISSING}"
        );
        Self {
            sdk,
            recorder: CallRecorder::new(),
        }
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .interceptor(self.recorder.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    /// A DynamoDB client whose responses are replaced by `fault` (retries off,
    /// so the fault reaches the adapter as the SDK parses it).
    pub fn dynamodb_with_fault(&self, fault: Fault) -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .interceptor(self.recorder.clone())
            .interceptor(fault)
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        let conf = aws_sdk_sns::config::Builder::from(&self.sdk)
            .interceptor(self.recorder.clone())
            .build();
        aws_sdk_sns::Client::from_conf(conf)
    }

    pub fn sns_with_fault(&self, fault: Fault) -> aws_sdk_sns::Client {
        let conf = aws_sdk_sns::config::Builder::from(&self.sdk)
            .interceptor(fault)
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_sns::Client::from_conf(conf)
    }

    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        let conf = aws_sdk_sfn::config::Builder::from(&self.sdk)
            .interceptor(self.recorder.clone())
            .build();
        aws_sdk_sfn::Client::from_conf(conf)
    }

    pub fn sfn_with_fault(&self, fault: Fault) -> aws_sdk_sfn::Client {
        let conf = aws_sdk_sfn::config::Builder::from(&self.sdk)
            .interceptor(fault)
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_sfn::Client::from_conf(conf)
    }

    /// Test plumbing (queues): not recorded.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// Create `which` tables with unique names, from `saga_aws::schema`.
    pub async fn tables(&self, which: &[TableName]) -> Tables {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        let mut tables = Tables::new();
        for t in which {
            let name = unique(t.logical_name());
            schema::create_table(&client, schema::schema(*t), &name)
                .await
                .unwrap_or_else(|e| panic!("creating table {name} in moto: {e}"));
            tables = tables.with(*t, name);
        }
        tables
    }

    /// The raw item `key = value` of `table`.
    pub async fn raw_item(
        &self,
        table: &str,
        key: &str,
        value: &str,
    ) -> Option<HashMap<String, AttributeValue>> {
        aws_sdk_dynamodb::Client::new(&self.sdk)
            .get_item()
            .table_name(table)
            .key(key, AttributeValue::S(value.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }

    pub async fn put_raw_item(&self, table: &str, item: HashMap<String, AttributeValue>) {
        aws_sdk_dynamodb::Client::new(&self.sdk)
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
    }

    pub fn calls(&self) -> Vec<AwsCall> {
        self.recorder.calls()
    }

    /// Turn on `table`'s stream (NEW_IMAGE, as infra/dynamodb.tf has it for
    /// the approvals table); writes from now on are recorded in it.
    pub async fn enable_stream(&self, table: &str) {
        aws_sdk_dynamodb::Client::new(&self.sdk)
            .update_table()
            .table_name(table)
            .stream_specification(
                aws_sdk_dynamodb::types::StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewImage)
                    .build()
                    .expect("stream specification"),
            )
            .send()
            .await
            .expect("UpdateTable (stream)");
    }

    /// Every record of `table`'s stream so far, as the DynamoDB Streams API
    /// sends them on the wire, with the `eventSourceARN` Lambda adds: the
    /// records of the event Lambda would invoke a function with.
    pub async fn stream_records(&self, table: &str) -> Vec<Value> {
        let stream_arn = aws_sdk_dynamodb::Client::new(&self.sdk)
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("DescribeTable")
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("the table has a stream");
        let description = self
            .streams("DescribeStream", json!({"StreamArn": stream_arn}))
            .await;
        let mut records = Vec::new();
        for shard in description["StreamDescription"]["Shards"]
            .as_array()
            .expect("shards")
        {
            let iterator = self
                .streams(
                    "GetShardIterator",
                    json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
                )
                .await;
            let out = self
                .streams(
                    "GetRecords",
                    json!({"ShardIterator": iterator["ShardIterator"]}),
                )
                .await;
            for mut record in out["Records"].as_array().cloned().unwrap_or_default() {
                record["eventSourceARN"] = Value::from(stream_arn.as_str());
                records.push(record);
            }
        }
        records
    }

    /// One DynamoDB Streams call to moto (awsJson1_0). The SDK has no streams
    /// client in this workspace; moto routes on the target and the credential
    /// scope, and checks no signature. Plain HTTP/1.1 over a socket.
    async fn streams(&self, operation: &str, body: Value) -> Value {
        let endpoint = moto_endpoint();
        let host = endpoint
            .strip_prefix("http://")
            .expect("moto is plain http")
            .trim_end_matches('/')
            .to_owned();
        let region = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let body = body.to_string();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.0\r\n\
             X-Amz-Target: DynamoDBStreams_20120810.{operation}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/{region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let response = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut socket = std::net::TcpStream::connect(&host).expect("connect to moto");
            socket.write_all(request.as_bytes()).expect("send");
            let mut response = Vec::new();
            socket.read_to_end(&mut response).expect("receive");
            String::from_utf8(response).expect("UTF-8 response")
        })
        .await
        .expect("streams call");
        let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
        assert!(
            head.split_whitespace().nth(1) == Some("200"),
            "DynamoDB Streams {operation}: {head}\n{body}"
        );
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "a chunked answer from moto: {head}"
        );
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{operation}: {e}: {body}"))
    }

    /// An SNS topic with a unique name; its ARN.
    pub async fn topic(&self, what: &str) -> String {
        aws_sdk_sns::Client::new(&self.sdk)
            .create_topic()
            .name(unique(what))
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn
            .expect("topic ARN")
    }

    /// A queue subscribed to `topic_arn`; `raw` = raw message delivery (the
    /// body as published) instead of the SNS JSON envelope.
    pub async fn subscribed_queue(&self, topic_arn: &str, raw: bool) -> Queue {
        let queue = self.queue("sub").await;
        let mut sub = aws_sdk_sns::Client::new(&self.sdk)
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(&queue.arn);
        if raw {
            sub = sub.attributes("RawMessageDelivery", "true");
        }
        sub.send().await.expect("Subscribe");
        queue
    }

    pub async fn queue(&self, what: &str) -> Queue {
        let sqs = self.sqs();
        let url = sqs
            .create_queue()
            .queue_name(unique(what))
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue URL");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue ARN");
        Queue {
            client: sqs,
            url,
            arn,
        }
    }
}

pub struct Queue {
    client: aws_sdk_sqs::Client,
    pub url: String,
    pub arn: String,
}

impl Queue {
    /// Wait (up to `timeout`) for at least `n` messages; their bodies.
    pub async fn receive(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut bodies = Vec::new();
        while bodies.len() < n && tokio::time::Instant::now() < deadline {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("ReceiveMessage");
            for m in out.messages.unwrap_or_default() {
                bodies.extend(m.body);
            }
        }
        bodies
    }
}

/// Replaces the next `times` responses with an AWS error (the real request is
/// still sent: use it on requests whose effect does not matter).
#[derive(Debug, Clone)]
pub struct Fault {
    remaining: Arc<AtomicUsize>,
    /// Only responses of this operation (`"TransactWriteItems"`), or any.
    operation: Option<&'static str>,
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Fault {
    /// An awsJson1_0 error (DynamoDB, Step Functions): `{"__type": code, ...}`.
    pub fn json(code: &str, status: u16, extra: serde_json::Value, times: usize) -> Self {
        let mut body = serde_json::json!({"__type": code, "message": format!("injected {code}")});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        Self {
            remaining: Arc::new(AtomicUsize::new(times)),
            operation: None,
            status,
            content_type: "application/x-amz-json-1.0",
            body: body.to_string(),
        }
    }

    /// An awsQuery error (SNS).
    pub fn query(code: &str, status: u16, times: usize) -> Self {
        Self {
            remaining: Arc::new(AtomicUsize::new(times)),
            operation: None,
            status,
            content_type: "text/xml",
            body: format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
                 <Message>injected {code}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
            ),
        }
    }
}

impl Fault {
    /// Only replace answers to `operation` (the SDK operation name).
    pub fn on(mut self, operation: &'static str) -> Self {
        self.operation = Some(operation);
        self
    }
}

impl Intercept for Fault {
    fn name(&self) -> &'static str {
        "Fault"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(op) = self.operation {
            let this = cfg
                .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
                .map(|m| m.name().to_owned());
            if this.as_deref() != Some(op) {
                return Ok(());
            }
        }
        let take = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if take {
            let mut response = HttpResponse::new(
                StatusCode::try_from(self.status)?,
                SdkBody::from(self.body.clone()),
            );
            response
                .headers_mut()
                .insert("content-type", self.content_type);
            *context.response_mut() = response;
        }
        Ok(())
    }
}
