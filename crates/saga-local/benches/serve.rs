//! Orders per second and POST → COMPLETED latency of `saga-local serve`, for
//! orders below the approval threshold, at concurrency 1 and 32.
//!
//! Runs the `saga-local` binary of the same build (`scripts/bench-local.sh`
//! builds both with `--profile local`, as `make local` does; `--server PATH`
//! runs another build, e.g. to compare two versions in alternating runs) on
//! a temporary data directory with a catalog holding plenty of stock. Each
//! client posts an order, then asks `GET /orders/{id}?wait=20`, which answers
//! once the order has settled (docs/local.md); with `--poll-ms N` it polls
//! `GET /orders/{id}` every N ms instead (as clients of the AWS API must; and
//! for servers older than `wait`).
//!
//! The server's CPU time per order (user + system, from `/proc/<pid>/stat`,
//! not with `--url`) is the steadiest number on a shared machine.
//!
//! Two latencies are reported: the client's (POST sent → the answer that
//! shows `COMPLETED` received, as the client observes it; when polling it
//! includes up to one polling interval) and the server's (the order's own
//! history, `RECEIVED` → `COMPLETED`, millisecond timestamps).
//!
//! Then, unless `--url` is given, it keeps posting orders (concurrency 32)
//! up to `--rss-orders` in all (10,000) and prints the server's resident
//! memory (`VmRSS`) and its peak (`VmHWM`, from `/proc/<pid>/status`) at
//! each quarter: finished executions must not be kept in memory, so the
//! peak stays flat.
//!
//! `cargo bench -p saga-local --bench serve -- [--orders N (500)] [--concurrency 1,32] [--poll-ms N (0: wait)] [--rss-orders N (10000, 0: skip)] [--server PATH] [--url URL]`
//! (`--url`: load a server that is already running, e.g. under a profiler;
//! its catalog must hold `BENCH-1` and it must allow many open orders per
//! customer, `--max-open-orders-per-customer`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a benchmark binary: panics and prints are its interface

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use saga_tests::local::{Api, ServeProcess, spawn_serve};
use serde_json::Value;

struct Settings {
    orders: usize,
    concurrency: Vec<usize>,
    /// Poll every this long; zero: one `GET …?wait=20` (repeated if it
    /// answers before the order completed).
    poll: Duration,
    /// The `saga-local` binary to run (default: this build's).
    server: String,
    /// A server that is already running (its catalog must hold BENCH-1).
    url: Option<String>,
    /// Orders in all before the last memory reading.
    rss_orders: usize,
}

fn settings() -> Settings {
    let mut s = Settings {
        orders: 500,
        concurrency: vec![1, 32],
        poll: Duration::ZERO,
        server: env!("CARGO_BIN_EXE_saga-local").to_owned(),
        url: None,
        rss_orders: 10_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--orders" => {
                s.orders = args[i + 1].parse().expect("--orders N");
                i += 1;
            }
            "--poll-ms" => {
                s.poll = Duration::from_millis(args[i + 1].parse().expect("--poll-ms N"));
                i += 1;
            }
            "--rss-orders" => {
                s.rss_orders = args[i + 1].parse().expect("--rss-orders N");
                i += 1;
            }
            "--server" => {
                s.server = args[i + 1].clone();
                i += 1;
            }
            "--url" => {
                s.url = Some(args[i + 1].clone());
                i += 1;
            }
            "--concurrency" => {
                s.concurrency = args[i + 1]
                    .split(',')
                    .map(|c| c.parse().expect("--concurrency 1,32"))
                    .collect();
                i += 1;
            }
            _ => {} // `cargo bench` passes `--bench`
        }
        i += 1;
    }
    s
}

fn at(order: &Value, status: &str) -> chrono::DateTime<chrono::Utc> {
    order["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["status"] == status)
        .and_then(|h| h["at"].as_str())
        .unwrap_or_else(|| panic!("no {status}: {order}"))
        .parse()
        .unwrap()
}

/// One order: (client latency, server latency, GETs it took).
async fn one(api: &Api, poll: Duration) -> (Duration, Duration, usize) {
    let start = Instant::now();
    let id = api.post_order(&[("BENCH-1", 1)], "tok_visa", "10115").await;
    let mut gets = 0;
    loop {
        let order = if poll.is_zero() {
            let resp = api
                .request("GET", &format!("/orders/{id}?wait=20"), &[], b"")
                .await;
            assert_eq!(
                resp.status,
                200,
                "GET /orders/{id}?wait=20: {}",
                resp.text()
            );
            resp.json()
        } else {
            api.order(&id).await
        };
        gets += 1;
        match order["status"].as_str() {
            Some("COMPLETED") => {
                let server = (at(&order, "COMPLETED") - at(&order, "RECEIVED"))
                    .to_std()
                    .unwrap_or_default();
                return (start.elapsed(), server, gets);
            }
            Some("FAILED" | "REJECTED" | "NEEDS_ATTENTION") => panic!("order failed: {order}"),
            _ if poll.is_zero() => {}
            _ => tokio::time::sleep(poll).await,
        }
    }
}

struct Run {
    concurrency: usize,
    orders: usize,
    wall: Duration,
    client: Vec<Duration>,
    server: Vec<Duration>,
    /// `GET /orders/{id}` per order (the polling is load on the server too).
    gets: f64,
}

async fn run(api: &Api, orders: usize, concurrency: usize, poll: Duration) -> Run {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (api, next) = (api.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < orders {
                out.push(one(&api, poll).await);
            }
            out
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let wall = start.elapsed();
    let gets = all.iter().map(|(_, _, g)| *g).sum::<usize>() as f64 / all.len().max(1) as f64;
    let (mut c, mut s): (Vec<_>, Vec<_>) = all.into_iter().map(|(c, s, _)| (c, s)).unzip();
    c.sort();
    s.sort();
    Run {
        concurrency,
        orders,
        wall,
        client: c,
        server: s,
        gets,
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let s = settings();
    let dir = tempfile::tempdir().unwrap();
    let server = match &s.url {
        Some(_) => None,
        None => Some(start_server(&s.server, dir.path()).await),
    };
    let api = match (&s.url, &server) {
        (Some(url), _) => Api::new(url, &dir.path().join("outbox")),
        (None, Some(server)) => server.api.clone(),
        (None, None) => unreachable!(),
    };
    // Warm up: connections, SQLite pages, allocator.
    run(&api, 30, 4, s.poll).await;

    let client = if s.poll.is_zero() {
        "client waits with GET /orders/{id}?wait=20".to_owned()
    } else {
        format!("client polls every {} ms", s.poll.as_millis())
    };
    println!(
        "saga-local serve: {} orders per run below the approval threshold; {client}",
        s.orders
    );
    println!(
        "{:>11} {:>9} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "concurrency",
        "orders/s",
        "p50 client",
        "p99 client",
        "p50 server",
        "p99 server",
        "GETs/order",
        "server CPU"
    );
    let pid = server.as_ref().map(ServeProcess::pid);
    for c in &s.concurrency {
        let cpu = pid.map(cpu_seconds);
        let r = run(&api, s.orders, *c, s.poll).await;
        let cpu_per_order = match (pid, cpu) {
            (Some(pid), Some(before)) => {
                format!(
                    "{:>9.2} ms",
                    (cpu_seconds(pid) - before) * 1000.0 / r.orders as f64
                )
            }
            _ => format!("{:>12}", "-"),
        };
        println!(
            "{:>11} {:>9.1} {:>9.1} ms {:>9.1} ms {:>9.1} ms {:>9.1} ms {:>12.1} {cpu_per_order}",
            r.concurrency,
            r.orders as f64 / r.wall.as_secs_f64(),
            pct(&r.client, 0.50),
            pct(&r.client, 0.99),
            pct(&r.server, 0.50),
            pct(&r.server, 0.99),
            r.gets,
        );
    }
    if let Some(server) = server {
        let done = 30 + s.orders * s.concurrency.len();
        memory(&api, &server, done, s.rss_orders, s.poll).await;
        server.kill().await;
    }
}

/// CPU time (user + system) `pid` has used so far, in seconds
/// (`/proc/<pid>/stat`, in clock ticks of 1/100 s as on Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (in parentheses, may hold spaces):
    // state is the 3rd field, utime the 14th and stime the 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// `VmRSS` and `VmHWM` of `pid`, in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// More orders up to `total`, with the server's memory at each quarter.
async fn memory(api: &Api, server: &ServeProcess, done: usize, total: usize, poll: Duration) {
    if total <= done {
        return;
    }
    println!("memory of the server (VmRSS / peak VmHWM) as orders finish, concurrency 32:");
    let (rss, hwm) = rss_mib(server.pid());
    println!("{done:>11} orders  {rss:>7.1} MiB / {hwm:>7.1} MiB");
    let mut done = done;
    for quarter in 1..=4 {
        let target = total * quarter / 4;
        if target <= done {
            continue;
        }
        run(api, target - done, 32, poll).await;
        done = target;
        let (rss, hwm) = rss_mib(server.pid());
        println!("{done:>11} orders  {rss:>7.1} MiB / {hwm:>7.1} MiB");
    }
}

/// `saga-local serve` on a fresh data directory with plenty of BENCH-1.
async fn start_server(bin: &str, dir: &Path) -> ServeProcess {
    let catalog = dir.join("catalog.json");
    std::fs::write(
        &catalog,
        r#"[{"sku": "BENCH-1", "name": "Benchmark beans", "priceCents": 1000, "currency": "EUR", "stock": 1000000000}]"#,
    )
    .unwrap();
    let data = dir.join("data");
    spawn_serve(
        bin,
        &[
            "--quiet".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
            "--catalog".as_ref(),
            catalog.as_os_str(),
            // One customer posts every order: no cap on its open orders.
            "--max-open-orders-per-customer".as_ref(),
            "1000000".as_ref(),
        ],
        &data.join("outbox"),
    )
    .await
}
