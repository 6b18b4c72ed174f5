//! Evaluates JSONata crates for the ASL engine (crates/asl/README.md, "JSONata").
//!
//!   jsonata-eval conformance SUITE_DIR [CANDIDATE...]   the jsonata-js test suite
//!   jsonata-eval bench [CANDIDATE...]                    parse once, evaluate many
//!   jsonata-eval variables [CANDIDATE...]                paths through `$states` = paths through the input
//!
//! SUITE_DIR is jsonata-js's test/test-suite at the version AWS runs (v2.0.6).
//! Each candidate runs in a child process (`worker`), one case at a time, so a
//! panic is caught per case, a case over the time limit is stopped, and a
//! stack overflow (which aborts a process) costs only that case.

mod bench;
mod candidates;
mod cases;
mod variables;

use candidates::Outcome;
use cases::{Case, Expect};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const CASE_LIMIT: Duration = Duration::from_secs(5);
/// The stack a case evaluates on: what a thread gets by default on Linux.
const STACK: usize = 8 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cands = |from: usize| -> Vec<String> {
        if args.len() > from { args[from..].to_vec() } else { candidates::ALL.iter().map(|s| s.to_string()).collect() }
    };
    match args.first().map(String::as_str) {
        Some("worker") => worker(&args[1], Path::new(&args[2]), args[3].parse().expect("start")),
        Some("conformance") => conformance(Path::new(&args[1]), &cands(2)),
        Some("bench") => bench::run(&cands(1)),
        Some("variables") => variables::run(&cands(1)),
        _ => eprintln!("usage: jsonata-eval conformance SUITE_DIR [CANDIDATE...] | bench [CANDIDATE...] | variables [CANDIDATE...]"),
    }
}

fn verdict(case: &Case, got: &Outcome) -> (&'static str, String) {
    match (&case.expect, got) {
        (Expect::Result(want), Outcome::Value(Some(v))) if cases::json_eq(want, v) => ("pass", String::new()),
        (Expect::Undefined, Outcome::Value(None)) => ("pass", String::new()),
        (Expect::Code(None), Outcome::Error(..)) => ("pass", String::new()),
        (Expect::Code(Some(w)), Outcome::Error(Some(c), _)) if w == c => ("pass", String::new()),
        (Expect::Code(_), Outcome::Error(c, m)) => ("other-code", format!("{c:?} {m}")),
        (_, got) => ("fail", format!("{got:?}")),
    }
}

/// Child process: run cases from `start` on, one result line each.
fn worker(candidate: &str, suite: &Path, start: usize) {
    std::panic::set_hook(Box::new(|_| {}));
    let all = cases::load(suite);
    let candidate = candidate.to_string();
    let t = std::thread::Builder::new().stack_size(STACK).spawn(move || {
        let mut out = std::io::stdout().lock();
        for (i, case) in all.iter().enumerate().skip(start) {
            let got = std::panic::catch_unwind(|| candidates::run(&candidate, case));
            let (v, detail) = match got {
                Ok(o) => verdict(case, &o),
                Err(p) => {
                    let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                    ("panic", msg.unwrap_or_default())
                }
            };
            let detail: String = detail.replace(['\n', '\t'], " ").chars().take(300).collect();
            writeln!(out, "@@result\t{i}\t{v}\t{detail}").expect("stdout");
            out.flush().expect("stdout");
        }
    });
    t.expect("spawn").join().ok();
}

/// Runs every case for one candidate through workers; returns index → (verdict, detail).
fn supervise(candidate: &str, suite: &Path, n: usize) -> Vec<(String, String)> {
    let exe = std::env::current_exe().expect("exe");
    let mut results: Vec<Option<(String, String)>> = vec![None; n];
    let mut next = 0;
    while next < n {
        let mut child = Command::new(&exe)
            .args(["worker", candidate, &suite.to_string_lossy(), &next.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn worker");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            match rx.recv_timeout(CASE_LIMIT) {
                Ok(line) => {
                    // A crate may print to stdout itself; only marked lines are results.
                    let Some(line) = line.strip_prefix("@@result\t") else { continue };
                    let mut p = line.splitn(3, '\t');
                    let i: usize = p.next().and_then(|s| s.parse().ok()).expect("index");
                    results[i] = Some((p.next().unwrap_or("").into(), p.next().unwrap_or("").into()));
                    next = i + 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    results[next] = Some(("timeout".into(), format!("over {CASE_LIMIT:?}")));
                    next += 1;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    if next < n {
                        results[next] = Some(("crash".into(), "worker process died (stack overflow or abort)".into()));
                        next += 1;
                    }
                    break;
                }
            }
        }
        child.kill().ok();
        child.wait().ok();
    }
    results.into_iter().map(|r| r.expect("every case has a result")).collect()
}

fn conformance(suite: &Path, candidates: &[String]) {
    let all = cases::load(suite);
    let n = all.len();
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let mut per_group: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    println!("{n} cases in {} groups", all.iter().map(|c| &c.group).collect::<std::collections::BTreeSet<_>>().len());
    for cand in candidates {
        let res = supervise(cand, suite, n);
        let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
        let mut tsv = String::new();
        for (case, (v, d)) in all.iter().zip(&res) {
            *tally.entry(v.as_str()).or_default() += 1;
            tsv.push_str(&format!("{}/{}\t{v}\t{d}\n", case.group, case.name));
        }
        std::fs::write(out_dir.join(format!("results-{cand}.tsv")), tsv).expect("write results");
        println!("{cand}: {tally:?}");
        for (case, (v, _)) in all.iter().zip(&res) {
            let g = per_group.entry(case.group.clone()).or_insert_with(|| vec![0; candidates.len() + 1]);
            if v == "pass" {
                let k = candidates.iter().position(|c| c == cand).expect("candidate");
                g[k] += 1;
            }
        }
    }
    for case in &all {
        per_group.get_mut(&case.group).expect("group")[candidates.len()] += 1;
    }
    println!("\ngroup\t{}\tcases", candidates.join("\t"));
    for (g, counts) in &per_group {
        let cells: Vec<String> = counts.iter().map(usize::to_string).collect();
        println!("{g}\t{}", cells.join("\t"));
    }
}
