//! Parallel branches and Map iterations: nested graphs run on their own
//! lanes, their results gathered in order; the first failure cancels the
//! rest.

use std::future::Future;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::Value;

use super::data::{lookup, resolve_seconds};
use super::jsonata::StatesData;
use super::{Extra, Here, Lane, Run};
use crate::error::Failure;
use crate::history::{EventDetails, EventType, MapIterationDetails, MapStartedDetails};
use crate::model::{MapState, ParallelState};
use crate::vars::Vars;

/// Collect the results of `running` by index into `len` slots, starting the
/// next piece of work from `more` as each one succeeds. The first failure
/// drops (cancels) what is still running.
async fn gather<F>(
    mut running: FuturesUnordered<F>,
    len: usize,
    mut more: impl FnMut() -> Option<F>,
) -> Result<Vec<Value>, Failure>
where
    F: Future<Output = (usize, Result<Value, Failure>)>,
{
    let mut results: Vec<Value> = vec![Value::Null; len];
    while let Some((i, r)) = running.next().await {
        let v = r?;
        if let Some(slot) = results.get_mut(i) {
            *slot = v;
        }
        if let Some(f) = more() {
            running.push(f);
        }
    }
    Ok(results)
}

impl Run {
    pub(super) async fn parallel_attempt(
        &self,
        here: &Here<'_>,
        p: &ParallelState,
        lane: &mut Lane,
        retry_count: u32,
    ) -> Result<Value, Failure> {
        let effective = self.effective_input(here)?;
        let input = match &p.parameters {
            Some(t) => {
                self.payload(t, &effective, here, &Extra::retry(retry_count), "Arguments")?
            }
            None => effective.into_owned(),
        };
        let started = self.emit(lane, EventType::ParallelStateStarted, EventDetails::None);
        let vars = here.vars.inner();
        let running: FuturesUnordered<_> = p
            .branches
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let input = input.clone();
                let vars = vars.clone();
                async move {
                    let lane = Lane {
                        prev: started,
                        top: false,
                    };
                    (i, self.run_graph(g, g.start, input, lane, None, vars).await)
                }
            })
            .collect();
        let (result, ended) = match gather(running, p.branches.len(), || None).await {
            Ok(v) => (Ok(Value::Array(v)), EventType::ParallelStateSucceeded),
            Err(f) => (Err(f), EventType::ParallelStateFailed),
        };
        self.emit(lane, ended, EventDetails::None);
        result
    }

    pub(super) async fn map_attempt(
        &self,
        here: &Here<'_>,
        m: &MapState,
        lane: &mut Lane,
        retry_count: u32,
    ) -> Result<Value, Failure> {
        let (inputs, limit) = self.map_inputs(here, m, retry_count)?;
        let started = self.emit(
            lane,
            EventType::MapStateStarted,
            EventDetails::MapStateStarted(MapStartedDetails {
                length: inputs.len() as u64,
            }),
        );
        let len = inputs.len();
        let vars = here.vars.inner();
        let mut pending = inputs.into_iter().enumerate();
        let running: FuturesUnordered<_> = pending
            .by_ref()
            .take(limit)
            .map(|(i, input)| self.iteration(here, m, started, i, (input, vars.clone())))
            .collect();
        let next = || {
            pending
                .next()
                .map(|(i, input)| self.iteration(here, m, started, i, (input, vars.clone())))
        };
        let (result, ended) = match gather(running, len, next).await {
            Ok(v) => (Ok(Value::Array(v)), EventType::MapStateSucceeded),
            Err(f) => (Err(f), EventType::MapStateFailed),
        };
        self.emit(lane, ended, EventDetails::None);
        result
    }

    /// The items of a Map state (`ItemsPath`, each through `ItemSelector`)
    /// and how many may run at once (`MaxConcurrency[Path]`, 0 = no limit).
    /// One context serves every lookup; the items are borrowed from the
    /// input (or the context) and copied once each.
    pub(super) fn map_inputs(
        &self,
        here: &Here<'_>,
        m: &MapState,
        retry_count: u32,
    ) -> Result<(Vec<Value>, usize), Failure> {
        let effective = self.effective_input(here)?;
        let extra = Extra::retry(retry_count);
        let jsonata_limit =
            self.jsonata_seconds(here, Some(&m.max_concurrency), "MaxConcurrency", &extra)?;
        let items_owned = match &m.items {
            Some(jx) => Some(self.jsonata(here, jx, "Items", StatesData::default(), &extra)?),
            None => None,
        };
        self.with_env(&effective, here, &Extra::default(), |env| {
            let items = match (&items_owned, &m.items_path) {
                (Some(v), _) => v,
                (None, Some(p)) => lookup(p, env, "ItemsPath")?,
                (None, None) => &effective,
            };
            let Value::Array(items) = items else {
                return Err(self.not_an_array(here, m, items));
            };
            let limit = match jsonata_limit {
                Some(n) => n,
                None => resolve_seconds(&m.max_concurrency, env, "MaxConcurrencyPath")?,
            };
            let limit = match limit {
                0 => usize::MAX,
                n => usize::try_from(n).unwrap_or(usize::MAX),
            };
            let mut inputs = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                inputs.push(match &m.item_selector {
                    Some(t) => {
                        let extra = Extra {
                            retry_count,
                            token: None,
                            map_item: Some((i, item)),
                        };
                        self.payload(t, &effective, here, &extra, "ItemSelector")?
                    }
                    None => item.clone(),
                });
            }
            Ok((inputs, limit))
        })
    }

    /// The items of a Map state are not an array.
    fn not_an_array(&self, here: &Here<'_>, m: &MapState, items: &Value) -> Failure {
        let found = crate::path::type_name(items);
        if m.items.is_some() {
            return self.query_error(
                here,
                "Items",
                format!("The Items field must evaluate to a JSON array: Expected 'array', found '{found}'"),
            );
        }
        Failure::runtime(format!(
            "The ItemsPath of the Map state '{}' must point to a JSON array, found {found}",
            here.state.name
        ))
    }

    /// One Map iteration on its own lane, between `MapIterationStarted` and
    /// `MapIterationSucceeded`/`Failed`.
    async fn iteration(
        &self,
        here: &Here<'_>,
        m: &MapState,
        started: u64,
        i: usize,
        (input, vars): (Value, Vars),
    ) -> (usize, Result<Value, Failure>) {
        let mut lane = Lane {
            prev: started,
            top: false,
        };
        let details = MapIterationDetails {
            name: here.state.name.clone(),
            index: i as u64,
        };
        self.emit(
            &mut lane,
            EventType::MapIterationStarted,
            EventDetails::MapIterationStarted(details.clone()),
        );
        let r = self
            .run_graph(&m.processor, m.processor.start, input, lane, None, vars)
            .await;
        let (ty, d) = match &r {
            Ok(_) => (
                EventType::MapIterationSucceeded,
                EventDetails::MapIterationSucceeded(details),
            ),
            Err(_) => (
                EventType::MapIterationFailed,
                EventDetails::MapIterationFailed(details),
            ),
        };
        self.emit(&mut lane, ty, d);
        (i, r)
    }
}
