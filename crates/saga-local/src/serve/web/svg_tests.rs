//! The SVG of the order saga and of nested machines; escaping.

use super::*;
use crate::serve::{ServeConfig, load_machine};
use asl::StateMachine;

fn names(g: &Outline, out: &mut Vec<String>) {
    for s in &g.states {
        out.push(s.name.clone());
        s.branches.iter().for_each(|b| names(b, out));
    }
}

/// Distinct (source, target, kind) edges: two Catch rules to one state
/// are one arrow.
fn edges(g: &Outline) -> usize {
    g.states
        .iter()
        .map(|s| {
            let mut seen: Vec<(&str, EdgeKind)> = Vec::new();
            for e in &s.edges {
                if !seen.contains(&(e.target.as_str(), e.kind)) {
                    seen.push((e.target.as_str(), e.kind));
                }
            }
            seen.len() + s.branches.iter().map(edges).sum::<usize>()
        })
        .sum()
}

#[test]
fn every_state_and_edge_of_the_order_saga_is_drawn() {
    let machine = load_machine(&ServeConfig::new("unused")).unwrap();
    let outline = machine.outline();
    let svg = render(&outline, "order-saga", &Marks::default());
    let mut all = Vec::new();
    names(&outline, &mut all);
    assert_eq!(all.len(), 15, "{all:?}");
    for name in &all {
        assert!(
            svg.contains(&format!("aria-label=\"{name} (")),
            "{name} is missing"
        );
        assert!(svg.contains(&format!("href=\"#{}\"", anchor(name))));
    }
    // Every Next, Choice and Catch edge, the start arrow and the arrow to
    // the end of NotifyCustomer (End: true).
    let drawn = svg.matches("<path class=\"edge").count();
    assert_eq!(drawn, edges(&outline) + 2);
    // One dashed arrow per state with a Catch (each catches to one state).
    assert_eq!(
        svg.matches("class=\"edge catch").count(),
        outline
            .states
            .iter()
            .filter(|s| s.edges.iter().any(|e| e.kind == EdgeKind::Catch))
            .count()
    );
    assert!(
        svg.contains("<title>catch States.Timeout, States.ALL</title>"),
        "Catch edges name their errors"
    );
    assert!(svg.contains(">default<"), "the Choice default is labelled");
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
}

#[test]
fn parallel_branches_and_map_processors_are_drawn_inside_their_state() {
    let m = StateMachine::parse(
        r#"{"StartAt": "Both", "States": {
          "Both": {"Type": "Parallel", "Next": "Each", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 1, "Next": "B2"}, "B2": {"Type": "Succeed"}}}]},
          "Each": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": true}}}}}}"#,
    )
    .unwrap();
    let svg = render(&m.outline(), "nested", &Marks::default());
    for name in ["Both", "A", "B", "B2", "Each", "Item"] {
        assert!(svg.contains(&format!("aria-label=\"{name} (")), "{name}");
    }
    let both = svg.find("aria-label=\"Both (").unwrap();
    let each = svg.find("aria-label=\"Each (").unwrap();
    let container = svg.find("<g class=\"container\">").unwrap();
    assert!(container < both, "Both is a container");
    let a = svg.find("aria-label=\"A (").unwrap();
    let item = svg.find("aria-label=\"Item (").unwrap();
    assert!(
        both < a && a < each && each < item,
        "branches inside their state"
    );
    assert_eq!(svg.matches("class=\"branch\"").count(), 3);
}

#[test]
fn state_names_and_rules_are_escaped() {
    let m = StateMachine::parse(
        r#"{"StartAt": "<script>alert(1)</script>", "States": {
          "<script>alert(1)</script>": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "\"><img src=x onerror=alert(2)>", "Next": "x&y"}], "Default": "x&y"},
          "x&y": {"Type": "Succeed"}}}"#,
    )
    .unwrap();
    let svg = render(&m.outline(), "t\"itle", &Marks::default());
    assert!(!svg.contains("<script>") && !svg.contains("<img"), "{svg}");
    assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(svg.contains("x&amp;y") && svg.contains("t&quot;itle"));
}
