//! `saga-local serve`: the whole order saga on this machine.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use saga_local::serve::console::ConsoleMode;
use saga_local::serve::{ServeConfig, Server};

use super::{eprint_lines, print_line};

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The catalog is upserted at every start: new SKUs are inserted with their stock; \
existing SKUs get the file's name, price and currency but KEEP their stock \
(it already accounts for reserved and sold units), unless --reset-stock.

Every execution is saved in <data-dir>/saga.db: stop or kill the server at any \
moment and start it again on the same data dir, and each order continues where \
it was. Delete the data dir to start from scratch.")]
pub struct Args {
    /// Port to listen on (0 picks a free port; the URL is printed).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Directory of the SQLite database and the outbox.
    #[arg(long, default_value = ".saga-local")]
    pub data_dir: PathBuf,
    /// Catalog JSON file: [{"sku", "name", "priceCents", "currency", "stock"}]
    /// (default: the built-in demo catalog, catalog.json).
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Overwrite the stock of existing products with the catalog's stock.
    #[arg(long)]
    pub reset_stock: bool,
    /// Orders totalling at least this many minor units of
    /// --approval-threshold-currency wait for a person.
    #[arg(long, default_value_t = saga_core::pricing::DEFAULT_APPROVAL_THRESHOLD_CENTS,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub approval_threshold_cents: i64,
    /// The threshold's currency (ISO 4217); orders in any other currency
    /// always wait for a person.
    #[arg(long, value_name = "CODE", default_value_t = saga_core::pricing::DEFAULT_APPROVAL_THRESHOLD_CURRENCY)]
    pub approval_threshold_currency: saga_core::Currency,
    /// How long an approval waits before the order is rejected.
    #[arg(long, default_value_t = saga_core::approval::DEFAULT_APPROVAL_TIMEOUT_SECONDS)]
    pub approval_timeout_seconds: u64,
    /// How many orders that are not final one customer may have; one more
    /// is `429` (stock is held while an order waits for approval).
    #[arg(long, default_value_t = api_handler::DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open_orders_per_customer: u32,
    /// Base of the links in e-mails and Location headers
    /// (default: http://<bind>:<port>).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Directory for outgoing messages, one file each (default: <data-dir>/outbox).
    #[arg(long, value_name = "DIR")]
    pub outbox: Option<PathBuf>,
    /// Run another state machine file instead of the built-in order saga.
    #[arg(long, value_name = "FILE")]
    pub definition: Option<PathBuf>,
    /// Require `Authorization: Bearer <JWT>` on the order routes, signed
    /// HS256 with the secret in FILE, as API Gateway's JWT authorizer
    /// (infra variables jwt_issuer / jwt_audience) does in AWS. The
    /// customer is then the token's `sub`. Approval links stay open.
    #[arg(long, value_name = "FILE")]
    pub auth_hs256_secret: Option<PathBuf>,
    /// The `iss` tokens must have (with --auth-hs256-secret).
    #[arg(long, value_name = "ISSUER", requires = "auth_hs256_secret")]
    pub auth_issuer: Option<String>,
    /// An `aud` tokens may have; repeat for several (with --auth-hs256-secret).
    #[arg(long, value_name = "AUDIENCE", requires = "auth_hs256_secret")]
    pub auth_audience: Vec<String>,
    /// Port of the Step Functions API (AWS JSON 1.0: `aws stepfunctions
    /// --endpoint-url http://127.0.0.1:8083 …`); 0 turns it off.
    #[arg(long, default_value_t = saga_local::sfn::DEFAULT_SFN_PORT)]
    pub sfn_port: u16,
    /// The Lambda Invoke API that runs the Lambda tasks of state machines
    /// created through the Step Functions API (e.g. `cargo lambda watch`,
    /// http://127.0.0.1:9000). The order saga runs its own handlers.
    #[arg(long, value_name = "URL")]
    pub lambda_endpoint: Option<String>,
    /// A Step Functions Local MockConfigFile for the Step Functions API:
    /// start an execution as `<stateMachineArn>#<TestCase>` to answer its
    /// tasks from that test case. Default: the file SFN_MOCK_CONFIG names,
    /// as Step Functions Local reads it.
    #[arg(long, value_name = "FILE")]
    pub mock_config: Option<PathBuf>,
    /// Let other machines open the web console at /console (by default it
    /// answers loopback clients only, even when --bind is public: it shows
    /// order data and approval links, and can stop and redrive executions).
    #[arg(long)]
    pub console_public: bool,
    /// Print only the URL line (no banner, transitions or messages).
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    fn config(&self) -> ServeConfig {
        ServeConfig {
            bind: self.bind,
            port: self.port,
            data_dir: self.data_dir.clone(),
            catalog: self.catalog.clone(),
            reset_stock: self.reset_stock,
            approval_threshold: saga_core::Money::new(
                self.approval_threshold_cents,
                self.approval_threshold_currency,
            ),
            approval_timeout_seconds: self.approval_timeout_seconds,
            max_open_orders_per_customer: self.max_open_orders_per_customer,
            public_url: self.public_url.clone(),
            outbox: self.outbox.clone(),
            definition: self.definition.clone(),
            console: if self.quiet {
                ConsoleMode::Quiet
            } else {
                ConsoleMode::Stdout
            },
            auth: self
                .auth_hs256_secret
                .clone()
                .map(|file| saga_local::serve::auth::AuthConfig {
                    hs256_secret_file: file,
                    issuer: self.auth_issuer.clone(),
                    audience: self.auth_audience.clone(),
                }),
            sfn: (self.sfn_port != 0).then(|| saga_local::sfn::serve::SfnConfig {
                port: self.sfn_port,
                lambda_endpoint: self.lambda_endpoint.clone(),
                mock_config: self
                    .mock_config
                    .clone()
                    .or_else(|| std::env::var_os("SFN_MOCK_CONFIG").map(PathBuf::from)),
            }),
            console_public: self.console_public,
        }
    }
}

/// Serve until SIGTERM or Ctrl-C. Exit 1 when the server cannot start or fails.
pub fn run(args: &Args) -> ExitCode {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprint_lines([format!("saga-local serve: cannot start the runtime: {e}")]);
            return ExitCode::FAILURE;
        }
    };
    let quiet = args.quiet;
    let result = runtime.block_on(async {
        let server = Server::start(args.config()).await?;
        let handle = server.shutdown_handle();
        tokio::spawn(async move {
            let which = shutdown_signal().await;
            if !quiet {
                print_line(&format!(
                    "{which}: finishing in-flight requests; running orders continue at the next start"
                ));
            }
            handle.shutdown();
        });
        server.join().await
    });
    // Executions are parked or cut off here; their state is in the database.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint_lines([format!("saga-local serve: {}", e.chain())]);
            ExitCode::FAILURE
        }
    }
}

/// Diagnostics on stderr; `RUST_LOG` picks the level (default `warn`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM; names the signal.
async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => "Ctrl-C",
        () = terminate => "SIGTERM",
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn auth_flags_become_the_authorizer_config() {
        let cli = Cli::try_parse_from(["serve"]).unwrap();
        assert_eq!(cli.args.config().auth, None);

        let cli = Cli::try_parse_from([
            "serve",
            "--auth-hs256-secret",
            "secret.txt",
            "--auth-issuer",
            "https://issuer.example",
            "--auth-audience",
            "a",
            "--auth-audience",
            "b",
        ])
        .unwrap();
        let auth = cli.args.config().auth.unwrap();
        assert_eq!(auth.hs256_secret_file, PathBuf::from("secret.txt"));
        assert_eq!(auth.issuer.as_deref(), Some("https://issuer.example"));
        assert_eq!(auth.audience, ["a", "b"]);

        // An issuer or audience without a secret would protect nothing.
        assert!(Cli::try_parse_from(["serve", "--auth-issuer", "https://i.example"]).is_err());
    }

    #[test]
    fn the_web_console_is_loopback_only_unless_console_public() {
        let cli = Cli::try_parse_from(["serve"]).unwrap();
        assert!(!cli.args.config().console_public);
        let cli = Cli::try_parse_from(["serve", "--console-public"]).unwrap();
        assert!(cli.args.config().console_public);
    }
}
