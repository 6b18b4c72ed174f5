//! End-to-end: `saga-local serve` in-process on port 0 with a temporary data
//! directory (real HTTP, real SQLite, the real handlers and state machine),
//! driven the way a client and an approver would: POST an order, poll GET,
//! read the approval mail in the outbox, click.
//!
//! Helpers: [`spawn_local`], and through [`Local`]'s [`Api`] (shared with
//! saga-local's crash tests: `saga_tests::local`) `post_order`, `approve`,
//! `await_status`. Every wait has a deadline and says what it last saw.

use std::time::{Duration, Instant};

use saga_local::serve::console::ConsoleMode;
use saga_local::serve::{ConsoleBuffer, RunningServer, ServeConfig, Server};
pub use saga_tests::local::{Api, CATALOG, DEADLINE, statuses};

#[path = "e2e_approvals.rs"]
mod approvals;
#[path = "e2e_auth.rs"]
mod auth;
#[path = "e2e_failures.rs"]
mod failures;
#[cfg(unix)]
#[path = "e2e_files.rs"]
mod files;
#[path = "e2e_http.rs"]
mod http;
#[path = "e2e_open_orders.rs"]
mod open_orders;
#[path = "e2e_orders.rs"]
mod orders;

/// A running `saga-local serve` (in-process) and its [`Api`] (deref).
pub struct Local {
    server: RunningServer,
    api: Api,
    _dir: tempfile::TempDir,
    console: ConsoleBuffer,
}

impl std::ops::Deref for Local {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// A server with the e2e catalog and defaults (threshold 100000, 24 h timeout).
pub async fn spawn_local() -> Local {
    spawn_local_with(|_| {}).await
}

/// A server with the e2e catalog, configured further by `adjust`.
pub async fn spawn_local_with(adjust: impl FnOnce(&mut ServeConfig)) -> Local {
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = dir.path().join("catalog.json");
    std::fs::write(&catalog, CATALOG).expect("write catalog");
    let console = ConsoleBuffer::default();
    let mut config = ServeConfig::new(dir.path().join("data"));
    config.port = 0;
    config.catalog = Some(catalog);
    config.console = ConsoleMode::Memory(console.clone());
    adjust(&mut config);
    let server = Server::start(config)
        .await
        .unwrap_or_else(|e| panic!("{}", e.chain()));
    let api = Api::new(server.url(), server.outbox());
    Local {
        server,
        api,
        _dir: dir,
        console,
    }
}

impl Local {
    pub fn console(&self) -> Vec<String> {
        self.console.lines()
    }

    pub fn server(&self) -> &RunningServer {
        &self.server
    }

    /// Shut the server down; its console (and the data directory, kept until
    /// the buffer's holder is done with it).
    pub async fn shutdown(self) -> (ConsoleBuffer, tempfile::TempDir) {
        self.server
            .shutdown()
            .await
            .unwrap_or_else(|e| panic!("{}", e.chain()));
        (self.console, self._dir)
    }

    /// Poll the store until the order's execution is no longer `RUNNING`
    /// (the order reaches its last status a few states before the execution
    /// ends: the notification, the console's end line and the final save
    /// come after); return its final status.
    pub async fn await_execution_end(&self, id: &str) -> String {
        let start = Instant::now();
        loop {
            let row = self
                .server
                .store()
                .execution(id)
                .await
                .expect("read the execution");
            let status = row.as_ref().map(|r| r.status.clone());
            if let Some(s) = status.as_deref()
                && s != "RUNNING"
            {
                return s.to_owned();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "execution {id} is {status:?} after {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The number of rows of a table of the server's database.
    /// Assert that nothing was stored in any of `tables`.
    pub fn assert_empty(&self, tables: &[&str]) {
        for table in tables {
            assert_eq!(self.rows(table), 0, "rows in {table}");
        }
    }

    pub fn rows(&self, table: &str) -> i64 {
        let db = rusqlite::Connection::open_with_flags(
            self.server.store().path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the database");
        db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("count {table}: {e}"))
    }

    /// Poll the console until a line contains `needle`; every line so far.
    pub async fn await_console(&self, needle: &str) -> Vec<String> {
        let start = Instant::now();
        loop {
            let lines = self.console();
            if lines.iter().any(|l| l.contains(needle)) {
                return lines;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no console line with {needle:?} after {DEADLINE:?}: {lines:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The stock of a SKU now.
    pub async fn stock(&self, sku: &str) -> i64 {
        let sku = saga_core::order::Sku::parse(sku).expect("sku");
        self.server
            .store()
            .stock(&sku)
            .await
            .expect("stock")
            .expect("known sku")
    }
}
