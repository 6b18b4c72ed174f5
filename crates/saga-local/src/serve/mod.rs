//! `saga-local serve`: the whole order saga on one machine.
//!
//! - HTTP ([`http::router`]): the four routes of the API, each request handed
//!   as an API Gateway v2 event to the same `api-handler` /
//!   `approval-callback` code as in Lambda.
//! - Executions: the engine runs `statemachines/order-saga.asl.json` (built
//!   in; `--definition` for another file) with the real step handlers
//!   in-process ([`crate::steps::StepHost`]), in real time.
//! - Storage: one SQLite database (`<data-dir>/saga.db`, WAL) for products,
//!   orders, approvals, idempotency keys and executions
//!   ([`workflow::DurableWorkflow`]); executions continue after a restart.
//! - Messages: the outbox directory, one file per message
//!   ([`outbox::OutboxNotifier`]).
//! - A console line per state transition ([`console`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), saga_local::serve::ServeError> {
//! use saga_local::serve::{ServeConfig, Server};
//! let server = Server::start(ServeConfig::new(".saga-local")).await?;
//! println!("{}", server.url());
//! server.shutdown().await
//! # }
//! ```

pub mod auth;
pub mod catalog;
pub mod console;
pub mod http;
pub mod lock;
pub mod outbox;
pub mod persistence;
pub mod private;
pub mod redelivery;
pub mod wait;
pub mod web;
pub mod workflow;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use asl::{Engine, RealClock, StateMachine};
use saga_core::approval::MAX_APPROVAL_TIMEOUT_SECONDS;
use saga_core::ports::StoreError;
use saga_core::pricing::{Product, requires_approval};
use saga_sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::engine_glue::DomainClock;
use crate::load::LoadError;
use crate::steps::{Adapters, STEPS, Step, StepHost, StepSettings};
use console::{Console, ConsoleMode, TransitionPrinter};
use outbox::OutboxNotifier;
use private::Tightened;
use workflow::{DurableWorkflow, Gate, ResumeReport};

pub use console::ConsoleBuffer;

/// The state machine, built in.
pub const ORDER_SAGA_ASL: &str = include_str!("../../../../statemachines/order-saga.asl.json");

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "saga.db";

/// How long start-up waits for resumed approval waits to be in place.
const PARKED_WAIT: Duration = Duration::from_secs(10);

/// Everything `serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (`--bind`, default 127.0.0.1).
    pub bind: IpAddr,
    /// Port (`--port`, default 3000; 0 picks a free one).
    pub port: u16,
    /// Database and outbox (`--data-dir`, default `.saga-local`).
    pub data_dir: PathBuf,
    /// A catalog JSON file (`--catalog`); the demo catalog when `None`.
    pub catalog: Option<PathBuf>,
    /// Overwrite the stock of existing products with the catalog's (`--reset-stock`).
    pub reset_stock: bool,
    /// Orders totalling at least this wait for approval, and so do orders in
    /// another currency (`--approval-threshold-cents`, `--approval-threshold-currency`).
    pub approval_threshold: saga_core::Money,
    /// How long an approval waits before the order is rejected.
    pub approval_timeout_seconds: u64,
    /// Orders not final one customer may have (`--max-open-orders-per-customer`).
    pub max_open_orders_per_customer: u32,
    /// Base of the links in e-mails and `Location` (`--public-url`);
    /// `http://<bind>:<port>` when `None`.
    pub public_url: Option<String>,
    /// Outbox directory (`--outbox`); `<data-dir>/outbox` when `None`.
    pub outbox: Option<PathBuf>,
    /// Another state machine file (`--definition`); the built-in one when `None`.
    pub definition: Option<PathBuf>,
    /// Where console lines go.
    pub console: ConsoleMode,
    /// The JWT authorizer on the order routes (`--auth-hs256-secret`); none when `None`.
    pub auth: Option<auth::AuthConfig>,
    /// The Step Functions API (`--sfn-port`, [`crate::sfn`]); off when `None`.
    pub sfn: Option<crate::sfn::serve::SfnConfig>,
    /// The web console ([`web`]) answers other machines too (`--console-public`).
    pub console_public: bool,
}

impl ServeConfig {
    /// The defaults of `saga-local serve`, with this data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 3000,
            data_dir: data_dir.into(),
            catalog: None,
            reset_stock: false,
            approval_threshold: saga_core::pricing::default_approval_threshold(),
            approval_timeout_seconds: request_approval::DEFAULT_TIMEOUT_SECONDS,
            max_open_orders_per_customer: api_handler::DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER,
            public_url: None,
            outbox: None,
            definition: None,
            console: ConsoleMode::Stdout,
            auth: None,
            sfn: None,
            console_public: false,
        }
    }

    fn outbox_dir(&self) -> PathBuf {
        self.outbox
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }
}

/// Why the server could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot create the directory {path}")]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create {path} private to its user")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    Database(#[from] saga_sqlite::OpenError),
    #[error("cannot read the catalog {path}")]
    CatalogFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid catalog {path}")]
    Catalog {
        path: String,
        #[source]
        source: catalog::CatalogError,
    },
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("the state machine cannot be used")]
    Definition(#[source] LoadError),
    #[error(
        "--approval-timeout-seconds must be between 1 and {MAX_APPROVAL_TIMEOUT_SECONDS}, got {0}"
    )]
    ApprovalTimeout(u64),
    #[error("--max-open-orders-per-customer must be at least 1")]
    MaxOpenOrders,
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the database failed")]
    Store(#[from] StoreError),
    #[error("the HTTP server failed")]
    Http(#[source] std::io::Error),
    #[error("the Step Functions API cannot start")]
    Sfn(#[from] crate::sfn::serve::SfnStartError),
    #[error("the web console cannot start")]
    Console(#[from] web::NoRandomness),
}

impl ServeError {
    /// The error and its causes on one line.
    pub fn chain(&self) -> String {
        let mut lines = saga_core::ports::error_chain(self);
        if let Self::Definition(e) = self {
            lines = std::iter::once(lines)
                .chain(e.lines())
                .collect::<Vec<_>>()
                .join("\n");
        }
        lines
    }
}

/// The saga's state machine with local placeholders, the approval timeout
/// filled in.
pub fn load_machine(config: &ServeConfig) -> Result<StateMachine, LoadError> {
    let vars = BTreeMap::from([(
        "approval_timeout_seconds".to_owned(),
        config.approval_timeout_seconds.to_string(),
    )]);
    if let Some(path) = &config.definition {
        return crate::load::load_definition(path, &vars);
    }
    let path = "statemachines/order-saga.asl.json (built in)".to_owned();
    let filled = crate::placeholders::fill(ORDER_SAGA_ASL, &vars).map_err(|source| {
        LoadError::Placeholder {
            path: path.clone(),
            source,
        }
    })?;
    let machine =
        StateMachine::parse(&filled).map_err(|problems| LoadError::Invalid { path, problems })?;
    Ok(machine.with_name("order-saga"))
}

fn read_catalog(config: &ServeConfig) -> Result<Vec<Product>, ServeError> {
    let (label, text) = match &config.catalog {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|source| ServeError::CatalogFile {
                path: path.clone(),
                source,
            })?,
        ),
        None => (
            "the built-in demo catalog".to_owned(),
            catalog::DEMO_CATALOG.to_owned(),
        ),
    };
    catalog::parse_catalog(&text).map_err(|source| ServeError::Catalog {
        path: label,
        source,
    })
}

fn create_dir(path: &Path, tightened: &mut Tightened) -> Result<(), ServeError> {
    private::create_dir(path, tightened).map_err(|source| ServeError::Directory {
        path: path.to_owned(),
        source,
    })
}

/// The data directory (`0700`), locked, and the outbox directory (`0700`,
/// its messages `0600`), with whatever was looser tightened.
fn prepare_dirs(
    config: &ServeConfig,
    tightened: &mut Tightened,
) -> Result<(lock::DataDirLock, PathBuf), ServeError> {
    create_dir(&config.data_dir, tightened)?;
    let data_lock = lock::lock(&config.data_dir, tightened)?;
    let outbox_dir = config.outbox_dir();
    create_dir(&outbox_dir, tightened)?;
    outbox::tighten_messages(&outbox_dir, tightened).map_err(|source| ServeError::Directory {
        path: outbox_dir.clone(),
        source,
    })?;
    Ok((data_lock, outbox_dir))
}

/// Open `<data-dir>/saga.db`, created `0600` first so that SQLite gives its
/// `-wal` and `-shm` files the same mode; older ones are tightened before
/// and after the open (SQLite reuses a `-wal` left by a killed process).
fn open_store(config: &ServeConfig, tightened: &mut Tightened) -> Result<SqliteStore, ServeError> {
    let db = config.data_dir.join(DATABASE_FILE);
    let companions = ["-wal", "-shm", "-journal"].map(|suffix| {
        let mut name = db.clone().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    });
    let private_files = |tightened: &mut Tightened| -> std::io::Result<()> {
        private::open_file(&db, false, tightened)?;
        for path in &companions {
            private::tighten_file(path, tightened)?;
        }
        Ok(())
    };
    let file_error = |source| ServeError::File {
        path: db.clone(),
        source,
    };
    private_files(tightened).map_err(file_error)?;
    let store = SqliteStore::open(&db)?;
    private_files(tightened).map_err(file_error)?;
    Ok(store)
}

/// Starts servers.
#[derive(Debug)]
pub struct Server;

/// Asks a running server to stop (clone it freely).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Stop accepting connections, let in-flight requests finish, then stop.
    /// Running executions keep their saved state and resume at the next start.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// A server that accepts requests.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    url: String,
    store: SqliteStore,
    outbox: PathBuf,
    resumed: ResumeReport,
    shutdown: ShutdownHandle,
    gate: Arc<Gate>,
    console: Arc<Console>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The Step Functions API's URL and server, when on.
    sfn: Option<(String, tokio::task::JoinHandle<std::io::Result<()>>)>,
    redelivery: tokio::task::JoinHandle<()>,
    _lock: lock::DataDirLock,
}

impl RunningServer {
    /// The address the server listens on (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The public base URL (`http://127.0.0.1:3000`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database (tests read stock and orders through it).
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// The outbox directory.
    pub fn outbox(&self) -> &Path {
        &self.outbox
    }

    /// The Step Functions API's URL (`http://127.0.0.1:8083`), when on.
    pub fn sfn_url(&self) -> Option<&str> {
        self.sfn.as_ref().map(|(url, _)| url.as_str())
    }

    /// Executions continued at start-up.
    pub fn resumed(&self) -> &ResumeReport {
        &self.resumed
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Shut down and wait until the server has stopped.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.shutdown.shutdown();
        self.join().await
    }

    /// Wait until the server stops (after [`ShutdownHandle::shutdown`]).
    /// In-flight requests finish first; then executions stop before their
    /// next step, with their state saved for the next start.
    pub async fn join(self) -> Result<(), ServeError> {
        let result = self.http.await;
        if let Some((_, sfn)) = self.sfn {
            let _ = sfn.await;
        }
        // Console first: executions whose next save the closed gate refuses
        // end in States.Runtime failures that must not look like real ones.
        self.console.close();
        self.gate.close();
        // It stops at the closed gate; a sweep in progress is refused by it.
        let _ = self.redelivery.await;
        // The steps' writes so far are committed, so the next start goes on
        // from them. (A step still under way may write after this: lost at
        // the exit, it runs again at the next start, as after a crash.)
        if let Err(e) = self.store.flush().await {
            tracing::warn!(error = %saga_core::ports::error_chain(&e), "the last writes were not committed; the next start repeats their steps");
        }
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServeError::Http(e)),
            Err(e) => Err(ServeError::Http(std::io::Error::other(e))),
        }
    }
}

impl Server {
    /// Lock the data directory (one server per directory), bind, open the
    /// database, seed the catalog, resume the executions that were running,
    /// then accept requests.
    pub async fn start(config: ServeConfig) -> Result<RunningServer, ServeError> {
        Self::start_with(config, STEPS).await
    }

    /// [`Server::start`] running the functions of `steps` (tests swap a
    /// handler for a faulty one).
    pub(crate) async fn start_with(
        config: ServeConfig,
        steps: &[Step],
    ) -> Result<RunningServer, ServeError> {
        if !(1..=MAX_APPROVAL_TIMEOUT_SECONDS).contains(&config.approval_timeout_seconds) {
            return Err(ServeError::ApprovalTimeout(config.approval_timeout_seconds));
        }
        if config.max_open_orders_per_customer == 0 {
            return Err(ServeError::MaxOpenOrders);
        }
        let machine = load_machine(&config).map_err(ServeError::Definition)?;
        let authorizer = config
            .auth
            .as_ref()
            .map(auth::Authorizer::load)
            .transpose()?;
        let products = read_catalog(&config)?;
        let mut tightened = Tightened::default();
        let (data_lock, outbox_dir) = prepare_dirs(&config, &mut tightened)?;

        let (listener, addr) = listen(&config).await?;
        let mut sfn_listener = match &config.sfn {
            Some(c) => Some(crate::sfn::serve::Bound::bind(config.bind, c).await?),
            None => None,
        };
        let url = config
            .public_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| default_url(addr));

        // Only now that the port is ours: nothing is changed by a start that
        // cannot listen.
        let store = open_store(&config, &mut tightened)?;
        let seeded = catalog::seed(&store, &products, config.reset_stock).await?;

        let console = Arc::new(Console::new(config.console.clone()));
        let real_clock: Arc<dyn asl::Clock> = Arc::new(RealClock);
        let clock: Arc<dyn saga_core::Clock> = Arc::new(DomainClock(real_clock.clone()));
        let notifier =
            OutboxNotifier::new(&outbox_dir, clock.clone(), console.clone()).map_err(|source| {
                ServeError::Directory {
                    path: outbox_dir.clone(),
                    source,
                }
            })?;
        let shared = Arc::new(store.clone());
        // The steps' writes are committed with the next write that is
        // shown outside (an HTTP answer, a message, an execution's end).
        let notifier = outbox::AfterCommit::new(store.clone(), notifier);
        let adapters = Adapters::simulated(
            Arc::new(store.deferring()),
            Arc::new(notifier),
            clock.clone(),
        );
        let settings = StepSettings {
            approval_threshold: config.approval_threshold,
            public_base_url: url.clone(),
        };
        let engine = engine(
            StepHost::with_steps(steps, &adapters, &settings),
            real_clock,
            &config.console,
            &console,
        );
        let gate = Arc::new(Gate::default());
        let saga_machine = machine.clone();
        let workflow = Arc::new(DurableWorkflow::new(
            store.clone(),
            engine,
            machine,
            gate.clone(),
        ));

        // The engine knows only the executions of this process: resume them
        // before the first approval click can arrive.
        let resumed = workflow.resume_all(PARKED_WAIT).await?;

        let shared_store = shared.clone();
        let state = app_state(
            shared,
            workflow.clone(),
            clock,
            &url,
            config.max_open_orders_per_customer,
        )
        .with_authorizer(authorizer);
        // Decisions recorded but not delivered before a crash (or a 503)
        // reach their executions without a second click.
        let redelivery = redelivery::spawn(store.clone(), (*state.approvals).clone(), gate.clone());
        let api = crate::sfn::serve::api(
            sfn_listener.as_mut(),
            &store,
            &workflow,
            saga_machine.clone(),
        );
        let access = web::Access::new(config.console_public, &url);
        let web = web::Console::new(api.clone(), saga_machine, shared_store, access)?;
        let (shutdown, http) = serve_http(listener, state, web::router(web));
        let sfn = match sfn_listener {
            Some(bound) => Some(crate::sfn::serve::start(bound, api, &shutdown.0)),
            None => {
                tokio::spawn(async move { crate::sfn::serve::resume(&api).await });
                None
            }
        };

        let server = RunningServer {
            addr,
            url,
            store,
            outbox: outbox_dir,
            resumed,
            shutdown,
            gate,
            console,
            http,
            sfn,
            redelivery,
            _lock: data_lock,
        };
        banner(&server, &config, &seeded, &tightened).await;
        Ok(server)
    }
}

/// Bind the configured address; the address bound (the real port when 0 was
/// asked).
async fn listen(config: &ServeConfig) -> Result<(TcpListener, SocketAddr), ServeError> {
    let wanted = SocketAddr::new(config.bind, config.port);
    let bind_error = |source| ServeError::Bind {
        addr: wanted,
        source,
    };
    let listener = TcpListener::bind(wanted).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, addr))
}

/// The engine running the steps in real time, printing transitions unless
/// the console is quiet.
fn engine(
    steps: StepHost,
    clock: Arc<dyn asl::Clock>,
    mode: &ConsoleMode,
    console: &Arc<Console>,
) -> Engine {
    let mut engine = Engine::builder(Arc::new(steps), clock.clone());
    // --quiet prints no transition: no need to format (and parse) them.
    if !matches!(mode, ConsoleMode::Quiet) {
        engine = engine.observer(Arc::new(TransitionPrinter::new(console.clone(), clock)));
    }
    engine.build()
}

/// Serve the HTTP API and the web console on `listener` until the handle
/// says stop (with each peer's address: the console answers loopback only).
fn serve_http(
    listener: TcpListener,
    state: http::AppState,
    console: axum::Router,
) -> (ShutdownHandle, tokio::task::JoinHandle<std::io::Result<()>>) {
    let (tx, mut rx) = watch::channel(false);
    let app = console
        .merge(http::router(state))
        .into_make_service_with_connect_info::<SocketAddr>();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    (ShutdownHandle(Arc::new(tx)), http)
}

/// The two HTTP functions' dependencies: the database and the durable
/// workflow, with links under `url`.
fn app_state(
    store: Arc<SqliteStore>,
    workflow: Arc<DurableWorkflow>,
    clock: Arc<dyn saga_core::Clock>,
    url: &str,
    max_open_orders_per_customer: u32,
) -> http::AppState {
    let changes = store.clone();
    http::AppState::new(
        api_handler::Deps {
            orders: store.clone(),
            idempotency: store.clone(),
            workflow: workflow.clone(),
            clock: clock.clone(),
            public_base_url: Some(url.to_owned()),
            max_open_orders_per_customer,
        },
        approval_callback::Deps {
            approvals: store.clone(),
            orders: store,
            workflow,
            clock,
        },
    )
    .with_order_changes(changes)
}

fn default_url(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(host, addr.port()))
}

/// The start-up text: the URL (also with `--quiet`), what was resumed, the
/// catalog and a first order to paste.
async fn banner(
    server: &RunningServer,
    config: &ServeConfig,
    seeded: &catalog::SeedReport,
    tightened: &Tightened,
) {
    let console = &server.console;
    console.always(&format!("saga-local serve: listening on {}", server.url));
    let reach = [
        "this machine only",
        "open to other machines: --console-public",
    ];
    let reach = reach[usize::from(config.console_public)];
    console.line(&format!(
        "  console   {}/console (web console; {reach})",
        server.url
    ));
    if let Some(url) = server.sfn_url() {
        console.always(&format!(
            "  sfn api   {url} (Step Functions API; the saga is {})",
            crate::sfn::SAGA_ARN
        ));
    }
    if !tightened.0.is_empty() {
        // Also with --quiet: the files were readable by others until now.
        let mut paths: Vec<String> = tightened
            .0
            .iter()
            .take(5)
            .map(|p| p.display().to_string())
            .collect();
        if tightened.0.len() > paths.len() {
            paths.push(format!("and {} more", tightened.0.len() - paths.len()));
        }
        console.always(&format!(
            "  private   {} path(s) had looser modes and are now private to you (0700 directories, 0600 files): {}",
            tightened.0.len(),
            paths.join(", ")
        ));
    }
    let r = &server.resumed;
    console.line(&format!(
        "  data      {} (catalog: {} new, {} updated{})",
        config.data_dir.join(DATABASE_FILE).display(),
        seeded.inserted,
        seeded.updated,
        if config.reset_stock {
            ", stock reset"
        } else {
            ", stock kept"
        }
    ));
    console.line(&format!("  outbox    {}", server.outbox.display()));
    console.line(&format!(
        "  approval  orders of {} or more, or in another currency, wait up to {} s for a decision",
        config.approval_threshold, config.approval_timeout_seconds
    ));
    if !r.resumed.is_empty() || !r.restarted.is_empty() || !r.failed.is_empty() {
        console.line(&format!(
            "  resumed   {} execution(s) ({} waiting for approval, {} restarted from their input, {} not resumable)",
            r.resumed.len() + r.restarted.len(),
            r.parked.len(),
            r.restarted.len(),
            r.failed.len()
        ));
    }
    let products = match server.store.all_products().await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %saga_core::ports::error_chain(&e), "cannot list the catalog");
            Vec::new()
        }
    };
    console.line("");
    console.line("Catalog:");
    for p in &products {
        let approval = if requires_approval(p.price, config.approval_threshold) {
            "  (needs approval)"
        } else {
            ""
        };
        console.line(&format!(
            "  {:<10} {:<32} {:>14}   stock {:>5}{approval}",
            p.sku.as_str(),
            p.name,
            p.price.to_string(),
            p.stock
        ));
    }
    let small = products
        .iter()
        .find(|p| !requires_approval(p.price, config.approval_threshold) && p.stock > 0);
    if let Some(p) = small {
        console.line("");
        console.line("Try it:");
        console.line(&format!(
            "  curl -s -i {}/orders -H 'content-type: application/json' -d '{}'",
            server.url,
            first_order(p.sku.as_str())
        ));
        console.line(&format!(
            "  curl -s {}/orders/<orderId>      # the orderId from the answer",
            server.url
        ));
    }
    console.line("");
}

/// A small order for `sku`, paid with a card that works.
pub fn first_order(sku: &str) -> String {
    serde_json::json!({
        "customerId": "c-1",
        "email": "ada@example.com",
        "items": [{"sku": sku, "quantity": 1}],
        "payment": {"token": "tok_visa"},
        "shippingAddress": {"name": "Ada Lovelace", "line1": "1 Analytical Way", "city": "London", "postalCode": "N1 9GU", "country": "GB"}
    })
    .to_string()
}

#[cfg(test)]
mod tests;
