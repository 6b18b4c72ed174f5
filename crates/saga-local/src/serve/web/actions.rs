//! Stop and Redrive. `GET /console/executions/{name}/{stop|redrive}` is a
//! confirmation page saying what will happen (it changes nothing); its form
//! `POST`s to the same path with the server's CSRF token. The `POST` is
//! refused, changing nothing, unless its `Origin` is the console's own
//! origin and the token matches; then it calls `StopExecution` /
//! `RedriveExecution` and redirects to the execution (or shows the API's
//! error).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::execution::REDRIVABLE;
use super::html::{esc, page as frame, status};
use super::list::urlencode;
use super::{Console, PageError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Stop,
    Redrive,
}

impl Action {
    fn parse(s: &str) -> Result<Self, PageError> {
        match s {
            "stop" => Ok(Self::Stop),
            "redrive" => Ok(Self::Redrive),
            other => Err(PageError::new(
                StatusCode::NOT_FOUND,
                "No such operation",
                format!("The console has no operation {other:?}; it has stop and redrive."),
            )),
        }
    }

    fn allowed(self, status: &str) -> bool {
        match self {
            Self::Stop => status == "RUNNING",
            Self::Redrive => REDRIVABLE.contains(&status),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Stop => "Stop",
            Self::Redrive => "Redrive",
        }
    }

    /// What will happen, in words, before it happens.
    fn consequences(self, described: &Value, current: Option<&str>, fail_state: bool) -> String {
        let state = current.map_or_else(String::new, |s| {
            format!(" in state <code>{}</code>", esc(s))
        });
        match self {
            Self::Stop => format!(
                "<p><code>StopExecution</code> ends this execution now, as <strong>ABORTED</strong>. It is{state}; that state is abandoned and no later state runs, <strong>compensation included</strong>: reserved stock, a payment or a shipment stay as they are, and the order keeps its current status until someone handles it.</p>"
            ),
            Self::Redrive => {
                let mut s = format!(
                    "<p><code>RedriveExecution</code> continues this execution from where it stopped{state}. As AWS redrives, the state that was entered and not left runs again, with the input it had then and its retry counters from zero; the states that succeeded are not run again. The history keeps the first attempt and goes on after an <code>ExecutionRedriven</code> event.</p>"
                );
                if fail_state {
                    s.push_str("<p>That state is a <code>Fail</code> state: the execution fails again at once, with the same error. Nothing before it runs again (see docs/redrive.md).</p>");
                }
                if described["redriveStatus"].as_str() == Some("NOT_REDRIVABLE") {
                    s.push_str(&format!(
                        r#"<p class="notice error">The API reports this execution as <code>NOT_REDRIVABLE</code>: {}. It will most likely refuse.</p>"#,
                        esc(described["redriveStatusReason"].as_str().unwrap_or("no reason given"))
                    ));
                }
                s
            }
        }
    }
}

fn path_of(name: &str) -> String {
    format!("/console/executions/{}", urlencode(name))
}

pub async fn confirm(
    State(console): State<Arc<Console>>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let action = Action::parse(&action)?;
    let described = console.describe(&name).await?;
    let st = described["status"].as_str().unwrap_or_default();
    let back = path_of(&name);
    if !action.allowed(st) {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            &format!("{} is not possible now", action.verb()),
            format!(
                "Execution {name} is {st}; {} applies to {}.",
                action.verb(),
                match action {
                    Action::Stop => "running executions",
                    Action::Redrive => "failed, timed-out or stopped executions",
                }
            ),
        ));
    }
    let current = console.current_state(&name).await?;
    let fail_state = current
        .as_deref()
        .and_then(|c| console.state_type(c))
        .is_some_and(|t| t == "Fail");
    let body = format!(
        r#"<p><a href="{back_h}">← Back to the execution</a></p>
<h1>{verb} execution <code>{name_h}</code>?</h1>
<p>It is {status} now.</p>
{what}
<form method="post" action="{back_h}/{slug}">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit" class="danger">{verb} execution {name_h}</button>
<a class="button" href="{back_h}">Cancel</a>
</form>"#,
        back_h = esc(&back),
        verb = action.verb(),
        slug = action.verb().to_ascii_lowercase(),
        name_h = esc(&name),
        status = status(st),
        what = action.consequences(&described, current.as_deref(), fail_state),
        csrf = esc(&console.csrf),
    );
    Ok(Html(frame(&format!("{} {name}?", action.verb()), &body)).into_response())
}

/// Whether `Origin` is this console's own origin (the `Host` it was
/// reached under, already accepted by the guard).
fn same_origin(headers: &HeaderMap) -> Result<(), PageError> {
    let refuse = |why: &str| {
        Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Refused: not from the console",
            format!("{why} Nothing was changed."),
        ))
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
    match (origin, host) {
        (None, _) => {
            refuse("The request has no Origin header; the console's own forms always send one.")
        }
        (Some(o), Some(h)) if o == format!("http://{h}") || o == format!("https://{h}") => Ok(()),
        (Some(o), _) => refuse(&format!("The request comes from another origin ({o}).")),
    }
}

fn tokens_match(a: &str, b: &str) -> bool {
    // Constant time in the token's length: the comparison reveals nothing.
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The API refused before changing anything: say so.
fn unchanged(e: crate::sfn::ApiError) -> PageError {
    let mut page = PageError::from(e);
    page.message.push_str(" Nothing was changed.");
    page
}

pub async fn act(
    State(console): State<Arc<Console>>,
    Path((name, action)): Path<(String, String)>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<Response, PageError> {
    let action = Action::parse(&action)?;
    same_origin(&headers)?;
    let Form(form) =
        form.map_err(|e| PageError::new(StatusCode::BAD_REQUEST, "Bad form", e.body_text()))?;
    if !form
        .get("csrf")
        .is_some_and(|t| tokens_match(t, &console.csrf))
    {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Refused: the form is out of date",
            "The form's CSRF token is missing or not this server's (it changes when saga-local serve restarts). Go back, reload the page and try again. Nothing was changed.",
        ));
    }
    let arn = console.execution_arn(&name)?;
    match action {
        Action::Stop => {
            console
                .call(
                    "StopExecution",
                    json!({"executionArn": arn, "error": "Console.Stopped", "cause": "stopped from the saga-local console"}),
                )
                .await
                .map_err(unchanged)?;
        }
        Action::Redrive => {
            console
                .call("RedriveExecution", json!({"executionArn": arn}))
                .await
                .map_err(unchanged)?;
        }
    }
    let slug = action.verb().to_ascii_lowercase();
    Ok(Redirect::to(&format!("{}?done={slug}", path_of(&name))).into_response())
}
