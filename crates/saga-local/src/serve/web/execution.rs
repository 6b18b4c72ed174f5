//! `GET /console/executions/{name}`: one execution. The graph with the way
//! it went, the details of every state (input, output, errors, retries;
//! task tokens redacted), the order record beside it, the history beneath,
//! and the operations its status allows.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use saga_core::{Order, OrderId};
use serde::Deserialize;
use serde_json::Value;

use super::html::{duration, esc, json_block, page as frame, status, time};
use super::list::{ms, urlencode};
use super::svg::{anchor, render};
use super::visits::{Marks, Outcome, marks};
use super::{Console, PageError};

/// Events read for one page (the engine's histories are far shorter).
const MAX_EVENTS: usize = 10_000;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// The operation just done (`stop`, `redrive`), for the notice.
    #[serde(default)]
    done: Option<String>,
}

/// Statuses from which `RedriveExecution` may start an execution again.
pub const REDRIVABLE: [&str; 3] = ["FAILED", "TIMED_OUT", "ABORTED"];

pub async fn page(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, PageError> {
    let mut described = console.describe(&name).await?;
    super::redact::redact(std::slice::from_mut(&mut described));
    let events = console.history(&name, MAX_EVENTS).await?;
    let m = marks(&events);
    let order = match OrderId::parse(&name) {
        Ok(id) => console.orders.get(&id).await?,
        Err(_) => None,
    };
    let st = described["status"].as_str().unwrap_or_default();
    let graph = render(
        &console.machine.outline(),
        &format!(
            "State machine {} as execution {name} went through it",
            console.machine.name()
        ),
        &m,
    );
    let body = format!(
        r#"<p><a href="/console">← All executions</a></p>
<h1>Execution <code>{name_h}</code></h1>
{notice}
<div id="summary" data-live>{summary}</div>
<div class="layout">
<section aria-labelledby="graph-h"><h2 id="graph-h">Where it went</h2>
{legend}
<div id="graph" class="graph-box" data-live>{graph}</div>
<p class="muted">Select a state (click, or Tab and Enter) for its input, output, errors and retries.</p>
</section>
<aside><div id="panel" class="panel" aria-live="polite"></div>
<div id="order" data-live>{order}</div></aside>
</div>
<section aria-labelledby="states-h"><h2 id="states-h">States</h2><div id="states" data-live>{states}</div></section>
<section aria-labelledby="history-h"><h2 id="history-h">History</h2><div id="history" data-live>{history}</div></section>
{stop}"#,
        name_h = esc(&name),
        notice = notice(q.done.as_deref()),
        summary = summary(&name, &described),
        legend = legend(),
        order = order.as_ref().map_or_else(
            || "<h2>Order</h2><p class=\"muted\">No order record has this execution's name.</p>"
                .to_owned(),
            order_record
        ),
        states = state_details(&console, &m),
        history = history_table(&events),
        // Polling stops once nothing more can happen.
        stop = if st == "RUNNING" {
            ""
        } else {
            r#"<span data-live-stop hidden></span>"#
        },
    );
    Ok(Html(frame(&format!("Execution {name}"), &body)))
}

fn notice(done: Option<&str>) -> &'static str {
    match done {
        Some("stop") => {
            r#"<p class="notice ok" role="status">StopExecution was accepted: the execution is stopped.</p>"#
        }
        Some("redrive") => {
            r#"<p class="notice ok" role="status">RedriveExecution was accepted: the execution runs again from where it failed.</p>"#
        }
        _ => "",
    }
}

fn legend() -> String {
    let items: String = [
        Outcome::Succeeded,
        Outcome::Retried,
        Outcome::Caught,
        Outcome::Failed,
        Outcome::Waiting,
        Outcome::Running,
    ]
    .iter()
    .map(|o| format!("<li>{}</li>", esc(o.label())))
    .collect();
    format!(
        r#"<ul class="legend" aria-label="Legend">{items}<li>thick border: current (last entered)</li><li>bold arrows: transitions taken; dashed: Catch</li></ul>"#
    )
}

fn summary(name: &str, d: &Value) -> String {
    let st = d["status"].as_str().unwrap_or_default();
    let start = ms(&d["startDate"]).unwrap_or_default();
    let stop = ms(&d["stopDate"]);
    let now = chrono::Utc::now().timestamp_millis();
    let mut kv = format!(
        "<dt>Status</dt><dd>{}</dd><dt>Started</dt><dd>{}</dd><dt>Duration</dt><dd>{}{}</dd>",
        status(st),
        esc(&time(start)),
        esc(&duration(stop.unwrap_or(now) - start)),
        if stop.is_none() { " (running)" } else { "" }
    );
    for (label, key) in [("Error", "error"), ("Cause", "cause")] {
        if let Some(v) = d[key].as_str() {
            let _ = write!(kv, "<dt>{label}</dt><dd><code>{}</code></dd>", esc(v));
        }
    }
    if let Some(n) = d["redriveCount"].as_u64().filter(|n| *n > 0) {
        let _ = write!(kv, "<dt>Redriven</dt><dd>{n}×</dd>");
    }
    let _ = write!(
        kv,
        "<dt>ARN</dt><dd><code>{}</code></dd>",
        esc(d["executionArn"].as_str().unwrap_or_default())
    );
    let path = format!("/console/executions/{}", esc(&urlencode(name)));
    let ops = match st {
        "RUNNING" => format!(r#"<p><a class="button danger" href="{path}/stop">Stop…</a></p>"#),
        s if super::execution::REDRIVABLE.contains(&s) => {
            format!(r#"<p><a class="button" href="{path}/redrive">Redrive…</a></p>"#)
        }
        _ => String::new(),
    };
    format!(r#"<dl class="kv">{kv}</dl>{ops}"#)
}

fn order_record(o: &Order) -> String {
    let mut s = format!(
        r#"<h2>Order</h2><dl class="kv"><dt>Status</dt><dd>{}</dd><dt>Customer</dt><dd>{}</dd><dt>Received</dt><dd>{}</dd></dl>"#,
        status(o.status().as_str()),
        esc(o.customer_id().as_str()),
        esc(&o.created_at().to_string())
    );
    match o.pricing() {
        Some(p) => {
            s.push_str(r#"<div class="table-wrap"><table><caption class="muted">Lines</caption><thead><tr><th scope="col">SKU</th><th scope="col">Product</th><th scope="col">Qty</th><th scope="col">Line total</th></tr></thead><tbody>"#);
            for l in &p.lines {
                let _ = write!(
                    s,
                    r#"<tr><td><code>{}</code></td><td>{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                    esc(l.sku.as_str()),
                    esc(&l.name),
                    l.quantity.get(),
                    esc(&l.line_total_text(p.total.currency()))
                );
            }
            let _ = write!(
                s,
                r#"</tbody><tfoot><tr><th scope="row" colspan="3">Total{}</th><td class="num"><strong>{}</strong></td></tr></tfoot></table></div>"#,
                if p.requires_approval {
                    " (needs approval)"
                } else {
                    ""
                },
                esc(&p.total.to_string())
            );
        }
        None => {
            s.push_str("<p class=\"muted\">Not priced yet. Requested:</p><ul>");
            for i in o.items() {
                let _ = write!(
                    s,
                    "<li><code>{}</code> × {}</li>",
                    esc(i.sku.as_str()),
                    i.quantity.get()
                );
            }
            s.push_str("</ul>");
        }
    }
    if let Some(f) = o.failure() {
        let _ = write!(
            s,
            r#"<p class="notice error"><strong>Failure</strong> <code>{}</code>: {}</p>"#,
            esc(&f.error.to_string()),
            esc(&f.cause)
        );
    }
    s.push_str("<h3>Status history</h3><ol>");
    for h in o.history() {
        let _ = write!(
            s,
            "<li>{} <span class=\"muted\">{}</span></li>",
            status(h.status.as_str()),
            esc(&h.at.to_string())
        );
    }
    s.push_str("</ol>");
    s.push_str(&ledger(o));
    s
}

/// Approval, payment and shipment, as far as they got.
fn ledger(o: &Order) -> String {
    let mut kv = String::new();
    if let Some(a) = o.approval() {
        let decision = match &a.decision {
            Some(d) if d.approved => format!("approved {}", d.at),
            Some(d) => format!("rejected {}", d.at),
            None => format!("pending, until {}", a.expires_at),
        };
        let _ = write!(kv, "<dt>Approval</dt><dd>{}</dd>", esc(&decision));
    }
    if let Some(p) = o.payment() {
        let refund = if p.refund.is_some() { ", refunded" } else { "" };
        let _ = write!(
            kv,
            "<dt>Payment</dt><dd>{} charged ({}){}</dd>",
            esc(&p.amount.to_string()),
            esc(&p.charge_id),
            refund
        );
    }
    if let Some(sh) = o.shipment() {
        let cancelled = if sh.cancelled_at.is_some() {
            ", cancelled"
        } else {
            ""
        };
        let _ = write!(
            kv,
            "<dt>Shipment</dt><dd><code>{}</code>{}</dd>",
            esc(&sh.tracking_number),
            cancelled
        );
    }
    if kv.is_empty() {
        String::new()
    } else {
        format!(r#"<dl class="kv">{kv}</dl>"#)
    }
}

/// A `<details>` per state (the SVG's links point at them): what the
/// history says of it.
fn state_details(console: &Console, m: &Marks) -> String {
    fn walk(g: asl::Outline, out: &mut Vec<(String, &'static str, Option<String>)>) {
        for s in g.states {
            out.push((s.name, s.state_type, s.resource));
            s.branches.into_iter().for_each(|b| walk(b, out));
        }
    }
    let mut out = String::new();
    let mut states = Vec::new();
    walk(console.machine.outline(), &mut states);
    for (name, ty, resource) in states {
        let visit = m.states.get(&name);
        let label = visit.map_or("not visited", |v| v.outcome.label());
        let mut body = format!(
            "<dl class=\"kv\"><dt>Type</dt><dd>{}</dd><dt>Outcome</dt><dd>{}</dd>",
            esc(ty),
            esc(label)
        );
        if let Some(r) = resource {
            let _ = write!(body, "<dt>Resource</dt><dd><code>{}</code></dd>", esc(&r));
        }
        if let Some(v) = visit {
            let _ = write!(
                body,
                "<dt>Entered</dt><dd>{}×</dd><dt>Retries</dt><dd>{}</dd>",
                v.entries,
                v.retries()
            );
        }
        body.push_str("</dl>");
        if let Some(v) = visit {
            for f in &v.failures {
                let _ = write!(
                    body,
                    r#"<p class="notice error"><strong>{}</strong> <code>{}</code>{}</p>"#,
                    esc(&f.event),
                    esc(f.error.as_deref().unwrap_or("")),
                    f.cause
                        .as_deref()
                        .map(|c| format!(": {}", esc(c)))
                        .unwrap_or_default()
                );
            }
            for (title, text) in [
                ("Input", &v.input),
                ("Task parameters", &v.parameters),
                ("Output", &v.output),
            ] {
                if let Some(t) = text {
                    let _ = write!(body, "<h3>{title}</h3>{}", json_block(t));
                }
            }
        }
        let _ = write!(
            out,
            r#"<details class="state" id="{id}"><summary>{name} — {label}</summary><div class="body">{body}</div></details>"#,
            id = esc(&anchor(&name)),
            name = esc(&name),
            label = esc(label),
        );
    }
    out
}

fn history_table(events: &[Value]) -> String {
    let start = events
        .first()
        .and_then(|e| ms(&e["timestamp"]))
        .unwrap_or_default();
    let mut rows = String::new();
    for e in events {
        let t = e["type"].as_str().unwrap_or_default();
        let at = ms(&e["timestamp"]).unwrap_or_default();
        let details = e
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.ends_with("EventDetails")))
            .map(|(_, v)| v);
        let state = details.and_then(|d| d["name"].as_str()).unwrap_or_default();
        let mut what = String::new();
        if let Some(d) = details {
            for key in ["error", "cause", "resource", "redriveCount"] {
                if let Some(v) = d.get(key).filter(|v| !v.is_null()) {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    let _ = write!(what, "<span class=\"muted\">{key}</span> {} ", esc(&v));
                }
            }
        }
        let _ = write!(
            rows,
            r#"<tr><td class="num">{}</td><td class="num">+{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>"#,
            e["id"].as_i64().unwrap_or_default(),
            esc(&duration(at - start)),
            esc(t),
            esc(state),
            what
        );
    }
    format!(
        r#"<div class="table-wrap"><table><thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Event</th><th scope="col">State</th><th scope="col">Details</th></tr></thead><tbody>{rows}</tbody></table></div>"#
    )
}
