//! The functions' log subscriber (every `main.rs` installs it first). Its
//! variables (`AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT`, `RUST_LOG`) are
//! the ones `lambda_runtime`'s default subscriber reads: set by the Lambda
//! service from the function's logging configuration, not part of the
//! environment Terraform sets (`ENV_VARS`).

/// Install the log subscriber: the level from `AWS_LAMBDA_LOG_LEVEL`, else
/// `RUST_LOG`, else INFO (as `lambda_runtime`'s default subscriber), JSON when
/// `AWS_LAMBDA_LOG_FORMAT=JSON` — but never the TRACE output of the runtime or
/// the AWS SDK, whatever the level: they log raw payloads there (the invocation
/// event, with its task token; request and response bodies, with the stored one).
pub fn init() -> Result<(), ::tracing::subscriber::SetGlobalDefaultError> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let level = level
        .as_deref()
        .unwrap_or("INFO")
        .parse::<LevelFilter>()
        .unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    ::tracing::subscriber::set_global_default(subscriber(filter, json, std::io::stdout))
}

/// Crates (target prefixes) that log raw payloads at TRACE.
const PAYLOAD_LOGGING_TARGETS: &[&str] = &["lambda_runtime", "aws_smithy", "aws_sdk"];

/// Whether a span or event may be logged at all.
fn loggable(meta: &::tracing::Metadata<'_>) -> bool {
    *meta.level() != ::tracing::Level::TRACE
        || !PAYLOAD_LOGGING_TARGETS
            .iter()
            .any(|t| meta.target().starts_with(t))
}

fn subscriber<W>(
    filter: tracing_subscriber::EnvFilter,
    json: bool,
    writer: W,
) -> Box<dyn ::tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::fmt;
    use tracing_subscriber::prelude::*;
    let registry = tracing_subscriber::registry()
        .with(filter_fn(loggable))
        .with(filter);
    let layer = fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(writer);
    if json {
        Box::new(registry.with(layer.json()))
    } else {
        Box::new(registry.with(layer))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn payloads_logged_at_trace_by_the_runtime_or_the_sdk_never_reach_the_log() {
        for json in [false, true] {
            let out = Captured::default();
            let writer = out.clone();
            let sub = subscriber(
                tracing_subscriber::EnvFilter::new("trace,lambda_runtime=trace"),
                json,
                move || writer.clone(),
            );
            ::tracing::subscriber::with_default(sub, || {
                ::tracing::trace!(
                    target: "lambda_runtime::layers::api_response",
                    body = r#"{"taskToken":"SECRET-TOKEN"}"#,
                    "raw JSON event received from Lambda"
                );
                ::tracing::trace!(
                    target: "aws_smithy_runtime::client::orchestrator",
                    request = "SECRET-BODY",
                    "transmitting request"
                );
                ::tracing::debug!(target: "lambda_runtime::runtime", "runtime debug kept");
                ::tracing::trace!("own trace kept");
            });
            let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            assert!(!text.contains("SECRET"), "{text}");
            assert!(text.contains("runtime debug kept"), "{text}");
            assert!(text.contains("own trace kept"), "{text}");
        }
    }
}
