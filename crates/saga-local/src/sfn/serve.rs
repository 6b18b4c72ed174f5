//! The API's own listener inside `saga-local serve`: bound before anything
//! is written (a start that cannot listen changes nothing), served until the
//! server's shutdown.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{SfnApi, SfnOptions, router};
use crate::mock::{MockConfig, MockConfigError};

/// What `serve` is told about the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SfnConfig {
    /// Port (`--sfn-port`; 0 picks a free one; `None` in [`SfnConfig`]'s
    /// owner turns the API off).
    pub port: u16,
    /// `--lambda-endpoint URL`.
    pub lambda_endpoint: Option<String>,
    /// `--mock-config FILE` (or `SFN_MOCK_CONFIG`).
    pub mock_config: Option<PathBuf>,
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum SfnStartError {
    #[error("cannot listen on {addr} (--sfn-port; 0 turns the Step Functions API off)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the MockConfigFile {path}")]
    MockFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the MockConfigFile {path} cannot be used")]
    Mock {
        path: PathBuf,
        #[source]
        source: MockConfigError,
    },
    #[error("--lambda-endpoint must be an http:// URL, got {0:?}")]
    LambdaEndpoint(String),
}

/// The bound port and the options, checked.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    pub addr: SocketAddr,
    options: SfnOptions,
}

impl Bound {
    /// Check the options and bind.
    pub async fn bind(ip: IpAddr, config: &SfnConfig) -> Result<Self, SfnStartError> {
        let mock_config = match &config.mock_config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| SfnStartError::MockFile {
                        path: path.clone(),
                        source,
                    })?;
                Some(
                    MockConfig::parse(&text).map_err(|source| SfnStartError::Mock {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        if let Some(url) = &config.lambda_endpoint
            && !url.starts_with("http://")
        {
            return Err(SfnStartError::LambdaEndpoint(url.clone()));
        }
        let wanted = SocketAddr::new(ip, config.port);
        let bind_error = |source| SfnStartError::Bind {
            addr: wanted,
            source,
        };
        let listener = TcpListener::bind(wanted).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        Ok(Self {
            listener,
            addr,
            options: SfnOptions {
                lambda_endpoint: config.lambda_endpoint.clone(),
                mock_config,
            },
        })
    }

    pub fn take_options(&mut self) -> SfnOptions {
        std::mem::take(&mut self.options)
    }

    /// Serve `api` until `stop` says so.
    pub fn serve(
        self,
        api: Arc<SfnApi>,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<std::io::Result<()>> {
        tokio::spawn(async move {
            // The running executions of the API's machines continue before
            // the first request is answered (connections wait meanwhile).
            resume(&api).await;
            axum::serve(self.listener, router(api))
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        })
    }
}

/// Continue the running executions of the API's machines (at start-up:
/// before the listener answers, or on their own when the port is off, so
/// an execution started in an earlier run does not stay RUNNING).
pub async fn resume(api: &SfnApi) {
    match api.resume_executions().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            executions = n,
            "resumed the Step Functions API's running executions"
        ),
        Err(e) => {
            tracing::error!(error = %e, "could not resume the Step Functions API's executions")
        }
    }
}

/// The API of a started server: the saga (its workflow and machine) and the
/// machines of the database, with the options of `bound`. Built also when
/// the port is off (`bound` is `None`): the web console calls it in process.
pub fn api(
    bound: Option<&mut Bound>,
    store: &saga_sqlite::SqliteStore,
    workflow: &Arc<crate::serve::workflow::DurableWorkflow>,
    machine: asl::StateMachine,
) -> Arc<SfnApi> {
    let saga = super::Saga {
        workflow: workflow.clone(),
        machine,
        started_ms: chrono::Utc::now().timestamp_millis(),
    };
    let options = bound.map(Bound::take_options).unwrap_or_default();
    SfnApi::new(store.clone(), Some(saga), options)
}

/// Serve `api` on `bound` until `shutdown` is sent; its URL and server.
pub fn start(
    bound: Bound,
    api: Arc<SfnApi>,
    shutdown: &watch::Sender<bool>,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let url = format!("http://{}", bound.addr);
    (url, bound.serve(api, shutdown.subscribe()))
}
