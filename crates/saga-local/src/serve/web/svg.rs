//! The state machine as an SVG, drawn from the machine that runs
//! ([`asl::StateMachine::outline`]): every state, `Next`, Choice (labelled
//! with the rule) and dashed Catch edges (labelled with the errors),
//! Parallel branches and Map item processors nested in their state. Visited
//! states carry their outcome as a class (colour), an icon and a word; the
//! current one is drawn thicker and says so.
//!
//! Layout is layered (Sugiyama-style, enough for state machines): ranks by
//! the longest path from the start with back edges set aside, a dummy node
//! per rank a long edge crosses, barycentre ordering, then positions pulled
//! towards their neighbours without overlapping.

use std::collections::HashMap;
use std::fmt::Write as _;

use asl::{EdgeKind, Outline, StateOutline};

use super::html::esc;
use super::visits::Marks;
use crate::graph::shorten;

const NODE_H: f64 = 46.0;
const GAP_X: f64 = 26.0;
const GAP_Y: f64 = 54.0;
const CHAR_W: f64 = 7.4;
const PAD: f64 = 14.0;
const HEADER: f64 = 44.0;
const TERMINAL_R: f64 = 9.0;
const MAX_EDGE_LABEL: usize = 24;
/// Long edges pass through ranks as thin dummies, packed closer than states.
const DUMMY_W: f64 = 4.0;

/// The fragment id of a state's details (and its node's link target).
pub fn anchor(name: &str) -> String {
    let mut id = String::from("state-");
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            id.push(c);
        } else {
            let _ = write!(id, ".{:x}", u32::from(c));
        }
    }
    id
}

/// A drawn box: its size and its SVG with the origin at its top left.
struct Drawn {
    w: f64,
    h: f64,
    svg: String,
}

#[derive(Clone, Copy, PartialEq)]
enum NodeKind {
    Start,
    End,
    State(usize),
    Dummy,
}

struct Node {
    kind: NodeKind,
    w: f64,
    h: f64,
    rank: usize,
    x: f64,
    y: f64,
}

struct Edge {
    /// Nodes the edge passes through, dummies included.
    path: Vec<usize>,
    kind: Option<EdgeKind>,
    label: Option<String>,
    taken: bool,
    back: bool,
}

struct Layered<'a> {
    g: &'a Outline,
    marks: &'a Marks,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    drawn: HashMap<usize, Drawn>,
}

/// The SVG of `machine` with `marks` on it.
pub fn render(outline: &Outline, title: &str, marks: &Marks) -> String {
    let d = layout(outline, marks);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" role="group" aria-label="{title}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>
{svg}</svg>"##,
        w = d.w,
        h = d.h,
        title = esc(title),
        svg = d.svg
    )
}

fn layout(g: &Outline, marks: &Marks) -> Drawn {
    let mut l = Layered {
        g,
        marks,
        nodes: Vec::new(),
        edges: Vec::new(),
        drawn: HashMap::new(),
    };
    l.build();
    l.rank();
    l.add_dummies();
    let rows = l.order();
    l.place(&rows);
    l.draw()
}

fn node(kind: NodeKind, w: f64, h: f64) -> Node {
    Node {
        kind,
        w,
        h,
        rank: 0,
        x: 0.0,
        y: 0.0,
    }
}

impl Layered<'_> {
    fn state_index(&self, name: &str) -> Option<usize> {
        self.g.states.iter().position(|s| s.name == name)
    }

    /// Nodes (start, the states, an end marker if a state ends with `End`)
    /// and edges.
    fn build(&mut self) {
        self.nodes
            .push(node(NodeKind::Start, TERMINAL_R * 2.0, TERMINAL_R * 2.0));
        for (i, s) in self.g.states.iter().enumerate() {
            let d = draw_state(s, self.marks);
            self.nodes.push(node(NodeKind::State(i), d.w, d.h));
            self.drawn.insert(i + 1, d);
        }
        if let Some(start) = self.state_index(&self.g.start_at) {
            self.edge(0, start + 1, None, None);
        }
        let mut end = None;
        for (i, s) in self.g.states.iter().enumerate() {
            for e in &s.edges {
                if let Some(t) = self.state_index(&e.target) {
                    self.edge(i + 1, t + 1, Some(e.kind), e.label.clone());
                }
            }
            if s.terminal && !matches!(s.state_type, "Succeed" | "Fail") {
                let end = *end.get_or_insert_with(|| {
                    self.nodes
                        .push(node(NodeKind::End, TERMINAL_R * 2.0, TERMINAL_R * 2.0));
                    self.nodes.len() - 1
                });
                self.edge(i + 1, end, None, None);
            }
        }
    }

    fn name(&self, n: usize) -> Option<&str> {
        match self.nodes.get(n)?.kind {
            NodeKind::State(i) => self.g.states.get(i).map(|s| s.name.as_str()),
            _ => None,
        }
    }

    fn edge(&mut self, from: usize, to: usize, kind: Option<EdgeKind>, label: Option<String>) {
        // Two Catch rules to one state are one arrow naming both.
        if let Some(e) = self
            .edges
            .iter_mut()
            .find(|e| e.path == [from, to] && e.kind == kind)
        {
            if let (Some(a), Some(b)) = (&mut e.label, label) {
                a.push_str(", ");
                a.push_str(&b);
            }
            return;
        }
        let taken = match (self.name(from), self.name(to)) {
            (Some(a), Some(b)) => self.marks.taken.contains(&(a.to_owned(), b.to_owned())),
            (None, Some(b)) => self.marks.states.contains_key(b),
            (Some(a), None) => self.marks.states.contains_key(a),
            _ => false,
        };
        self.edges.push(Edge {
            path: vec![from, to],
            kind,
            label,
            taken,
            back: false,
        });
    }

    /// Mark back edges (depth-first from the start, then from anything not
    /// reached) and rank by the longest path over the others.
    fn rank(&mut self) {
        let n = self.nodes.len();
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, e) in self.edges.iter().enumerate() {
            out[e.path[0]].push(i);
        }
        // 0 unseen, 1 on the stack, 2 done.
        let mut seen = vec![0u8; n];
        for root in 0..n {
            if seen[root] != 0 {
                continue;
            }
            let mut stack = vec![(root, 0usize)];
            seen[root] = 1;
            while let Some((v, next)) = stack.pop() {
                if let Some(&ei) = out[v].get(next) {
                    stack.push((v, next + 1));
                    let t = self.edges[ei].path[1];
                    match seen[t] {
                        0 => {
                            seen[t] = 1;
                            stack.push((t, 0));
                        }
                        1 => self.edges[ei].back = true,
                        _ => {}
                    }
                } else {
                    seen[v] = 2;
                }
            }
        }
        // Longest path: relax forward edges until nothing changes (a DAG of
        // at most a few hundred states).
        let mut changed = true;
        while changed {
            changed = false;
            for e in self.edges.iter().filter(|e| !e.back) {
                let (a, b) = (e.path[0], e.path[1]);
                if self.nodes[b].rank < self.nodes[a].rank + 1 {
                    self.nodes[b].rank = self.nodes[a].rank + 1;
                    changed = true;
                }
            }
        }
    }

    /// A dummy node in every rank a forward edge skips.
    fn add_dummies(&mut self) {
        for ei in 0..self.edges.len() {
            if self.edges[ei].back {
                continue;
            }
            let (a, b) = (self.edges[ei].path[0], self.edges[ei].path[1]);
            let (ra, rb) = (self.nodes[a].rank, self.nodes[b].rank);
            let mut path = vec![a];
            for r in ra + 1..rb {
                let mut d = node(NodeKind::Dummy, DUMMY_W, NODE_H);
                d.rank = r;
                self.nodes.push(d);
                path.push(self.nodes.len() - 1);
            }
            path.push(b);
            self.edges[ei].path = path;
        }
    }

    /// Neighbours of each node in the rank above and below.
    fn neighbours(&self) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let n = self.nodes.len();
        let (mut up, mut down) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        for e in self.edges.iter().filter(|e| !e.back) {
            for w in e.path.windows(2) {
                down[w[0]].push(w[1]);
                up[w[1]].push(w[0]);
            }
        }
        (up, down)
    }

    /// Rows by rank, ordered by barycentre sweeps.
    fn order(&self) -> Vec<Vec<usize>> {
        let ranks = self.nodes.iter().map(|n| n.rank).max().unwrap_or(0) + 1;
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); ranks];
        for (i, n) in self.nodes.iter().enumerate() {
            rows[n.rank].push(i);
        }
        let (up, down) = self.neighbours();
        let mut pos = vec![0.0f64; self.nodes.len()];
        let index = |rows: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
            for row in rows {
                for (j, &v) in row.iter().enumerate() {
                    pos[v] = j as f64;
                }
            }
        };
        index(&rows, &mut pos);
        for sweep in 0..8 {
            let adj = if sweep % 2 == 0 { &up } else { &down };
            let order: Vec<usize> = if sweep % 2 == 0 {
                (1..ranks).collect()
            } else {
                (0..ranks.saturating_sub(1)).rev().collect()
            };
            for r in order {
                let mut keyed: Vec<(f64, usize)> = rows[r]
                    .iter()
                    .map(|&v| {
                        let ns = &adj[v];
                        let key = if ns.is_empty() {
                            pos[v]
                        } else {
                            ns.iter().map(|&u| pos[u]).sum::<f64>() / ns.len() as f64
                        };
                        (key, v)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
                rows[r] = keyed.into_iter().map(|(_, v)| v).collect();
                index(&rows, &mut pos);
            }
        }
        rows
    }

    /// x: packed rows, then pulled towards the neighbours' mean, keeping
    /// order and gaps (the mean of a left- and a right-pushed placement
    /// keeps both). y: row by row.
    fn place(&mut self, rows: &[Vec<usize>]) {
        for row in rows {
            let mut x = 0.0;
            for &v in row {
                self.nodes[v].x = x + self.nodes[v].w / 2.0;
                x += self.nodes[v].w + GAP_X;
            }
        }
        let (up, down) = self.neighbours();
        for _ in 0..12 {
            for row in rows {
                let desired: Vec<f64> = row
                    .iter()
                    .map(|&v| {
                        let ns: Vec<usize> = up[v].iter().chain(&down[v]).copied().collect();
                        if ns.is_empty() {
                            self.nodes[v].x
                        } else {
                            ns.iter().map(|&u| self.nodes[u].x).sum::<f64>() / ns.len() as f64
                        }
                    })
                    .collect();
                let sep = |a: usize, b: usize| {
                    let dummies = [a, b]
                        .iter()
                        .filter(|&&v| self.nodes[v].kind == NodeKind::Dummy)
                        .count();
                    let gap = [GAP_X, GAP_X / 2.0, 8.0][dummies];
                    (self.nodes[a].w + self.nodes[b].w) / 2.0 + gap
                };
                let mut right = desired.clone();
                for j in 1..row.len() {
                    right[j] = right[j].max(right[j - 1] + sep(row[j - 1], row[j]));
                }
                let mut left = desired;
                for j in (0..row.len().saturating_sub(1)).rev() {
                    left[j] = left[j].min(left[j + 1] - sep(row[j], row[j + 1]));
                }
                for (j, &v) in row.iter().enumerate() {
                    self.nodes[v].x = (left[j] + right[j]) / 2.0;
                }
            }
        }
        let min_x = self
            .nodes
            .iter()
            .map(|n| n.x - n.w / 2.0)
            .fold(f64::INFINITY, f64::min);
        let mut y = PAD;
        for row in rows {
            let h = row.iter().map(|&v| self.nodes[v].h).fold(0.0, f64::max);
            for &v in row {
                let n = &mut self.nodes[v];
                n.x += PAD - min_x;
                n.y = y + (h - n.h) / 2.0;
            }
            y += h + GAP_Y;
        }
    }

    fn draw(&self) -> Drawn {
        let right = self
            .nodes
            .iter()
            .map(|n| n.x + n.w / 2.0)
            .fold(0.0, f64::max);
        let bottom = self.nodes.iter().map(|n| n.y + n.h).fold(0.0, f64::max);
        let backs = self.edges.iter().filter(|e| e.back).count() as f64;
        let mut svg = String::new();
        let mut lane = right + 16.0;
        for e in &self.edges {
            if e.back {
                svg.push_str(&self.back_edge(e, lane));
                lane += 10.0;
            } else {
                svg.push_str(&self.forward_edge(e));
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let (x, y) = (n.x - n.w / 2.0, n.y);
            match n.kind {
                NodeKind::Start | NodeKind::End => {
                    let (cx, cy) = (n.x, n.y + TERMINAL_R);
                    let label = if n.kind == NodeKind::Start {
                        "start"
                    } else {
                        "end"
                    };
                    let _ = write!(
                        svg,
                        r#"<circle class="terminal" cx="{cx:.1}" cy="{cy:.1}" r="{TERMINAL_R}"><title>{label}</title></circle>"#
                    );
                }
                NodeKind::State(_) => {
                    if let Some(d) = self.drawn.get(&i) {
                        let _ = write!(
                            svg,
                            r#"<g transform="translate({x:.1},{y:.1})">{}</g>"#,
                            d.svg
                        );
                    }
                }
                NodeKind::Dummy => {}
            }
        }
        Drawn {
            w: right + PAD + backs * 10.0 + if backs > 0.0 { 16.0 } else { 0.0 },
            h: bottom + PAD,
            svg,
        }
    }

    fn classes(e: &Edge) -> String {
        let kind = match e.kind {
            Some(EdgeKind::Catch) => "catch",
            Some(EdgeKind::Choice) => "choice",
            Some(EdgeKind::Default) => "default",
            _ => "next",
        };
        format!("edge {kind}{}", if e.taken { " taken" } else { "" })
    }

    fn label(e: &Edge, x: f64, y: f64) -> String {
        let Some(l) = &e.label else {
            return String::new();
        };
        let text = match e.kind {
            Some(EdgeKind::Catch) => format!("catch {l}"),
            _ => l.clone(),
        };
        format!(
            r#"<text class="elabel" x="{x:.1}" y="{y:.1}">{}<title>{}</title></text>"#,
            esc(&shorten(&text, MAX_EDGE_LABEL)),
            esc(&text)
        )
    }

    fn forward_edge(&self, e: &Edge) -> String {
        let pts: Vec<(f64, f64)> = e
            .path
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                let n = &self.nodes[v];
                match (k, n.kind) {
                    (0, _) => (n.x, n.y + n.h),
                    (_, NodeKind::Dummy) => (n.x, n.y + n.h / 2.0),
                    _ => (n.x, n.y),
                }
            })
            .collect();
        let mut d = format!("M{:.1},{:.1}", pts[0].0, pts[0].1);
        for w in pts.windows(2) {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            let my = (y0 + y1) / 2.0;
            let _ = write!(d, " C{x0:.1},{my:.1} {x1:.1},{my:.1} {x1:.1},{y1:.1}");
        }
        // Catch labels by their source (one arrow per state and target),
        // Choice labels by their target (the rules of one Choice part there).
        let n = pts.len();
        let ((x0, y0), (x1, y1)) = match e.kind {
            Some(EdgeKind::Catch) => (pts[0], pts[1]),
            _ => (pts[n - 2], pts[n - 1]),
        };
        let t = if e.kind == Some(EdgeKind::Catch) {
            0.5
        } else {
            0.72
        };
        let (lx, ly) = (x0 + (x1 - x0) * t + 4.0, y0 + (y1 - y0) * t);
        format!(
            r#"<path class="{}" d="{d}" marker-end="url(#arrow)"/>{}"#,
            Self::classes(e),
            Self::label(e, lx, ly)
        )
    }

    fn back_edge(&self, e: &Edge, lane: f64) -> String {
        let (a, b) = (&self.nodes[e.path[0]], &self.nodes[e.path[1]]);
        let (ax, ay) = (a.x + a.w / 2.0, a.y + a.h / 2.0);
        let (bx, by) = (b.x + b.w / 2.0, b.y + b.h / 2.0);
        format!(
            r#"<path class="{}" d="M{ax:.1},{ay:.1} H{lane:.1} V{by:.1} H{bx:.1}" marker-end="url(#arrow)"/>{}"#,
            Self::classes(e),
            Self::label(e, lane + 3.0, (ay + by) / 2.0)
        )
    }
}

/// What a node says of its state: the status words, the second text line
/// and the CSS classes.
struct Label {
    status: String,
    second: String,
    class: String,
    visited: bool,
}

fn label(s: &StateOutline, marks: &Marks) -> Label {
    let visit = marks.states.get(&s.name);
    let current = marks.current.as_deref() == Some(s.name.as_str());
    let mut status = visit
        .map_or("not visited", |v| v.outcome.label())
        .to_owned();
    if let Some(v) = visit {
        if v.retries() > 0 && !status.contains("retried") {
            let plural = if v.retries() == 1 { "y" } else { "ies" };
            let _ = write!(status, ", {} retr{plural}", v.retries());
        }
        if v.entries > 1 {
            let _ = write!(status, " (entered {}×)", v.entries);
        }
    }
    if current {
        status.push_str(" · current");
    }
    let class = format!(
        "node {} {}{}",
        s.state_type.to_ascii_lowercase(),
        visit.map_or("unvisited", |v| v.outcome.class()),
        if current { " current" } else { "" }
    );
    Label {
        second: if visit.is_some() {
            status.clone()
        } else {
            s.state_type.to_owned()
        },
        status,
        class,
        visited: visit.is_some(),
    }
}

/// A state's box: a plain one, or a Parallel / Map with its graphs inside;
/// a link to its details either way.
fn draw_state(s: &StateOutline, marks: &Marks) -> Drawn {
    let l = label(s, marks);
    let text_w = (s.name.chars().count().max(l.second.chars().count()) as f64) * CHAR_W + 24.0;
    let aria = esc(&format!("{} ({}): {}", s.name, s.state_type, l.status));
    let link = |inner: &str| {
        format!(
            r##"<a href="#{id}" aria-label="{aria}"><title>{aria}</title>{inner}</a>"##,
            id = esc(&anchor(&s.name)),
        )
    };
    if !s.branches.is_empty() {
        return draw_container(s, marks, &l, text_w, &link);
    }
    let w = text_w.max(120.0);
    let shape = match s.state_type {
        "Choice" => {
            let i = 10.0;
            format!(
                r#"<polygon points="{i},0 {a:.1},0 {w:.1},{m:.1} {a:.1},{NODE_H} {i},{NODE_H} 0,{m:.1}"/>"#,
                a = w - i,
                m = NODE_H / 2.0
            )
        }
        "Succeed" | "Fail" => format!(r#"<rect width="{w:.1}" height="{NODE_H}" rx="23"/>"#),
        _ => format!(r#"<rect width="{w:.1}" height="{NODE_H}" rx="5"/>"#),
    };
    let texts = format!(
        r#"<text class="name" x="{cx:.1}" y="19" text-anchor="middle">{}</text><text x="{cx:.1}" y="36" text-anchor="middle">{}</text>"#,
        esc(&s.name),
        esc(&l.second),
        cx = w / 2.0
    );
    let svg = format!(r#"<g class="{}">{}</g>"#, l.class, link(&(shape + &texts)));
    Drawn { w, h: NODE_H, svg }
}

/// Parallel / Map: the header is the state itself; its branches (or item
/// processor) are laid out inside, side by side.
fn draw_container(
    s: &StateOutline,
    marks: &Marks,
    l: &Label,
    text_w: f64,
    link: &dyn Fn(&str) -> String,
) -> Drawn {
    let inner: Vec<Drawn> = s.branches.iter().map(|b| layout(b, marks)).collect();
    let inner_w: f64 =
        inner.iter().map(|d| d.w).sum::<f64>() + GAP_X * (inner.len().saturating_sub(1)) as f64;
    let w = (inner_w + 2.0 * PAD).max(text_w);
    let h = HEADER + inner.iter().map(|d| d.h).fold(0.0, f64::max) + PAD;
    let header = format!(
        r#"<rect width="{w:.1}" height="{HEADER}" rx="5"/><text class="name" x="{cx:.1}" y="19" text-anchor="middle">{}</text><text x="{cx:.1}" y="36" text-anchor="middle">{} {}</text>"#,
        esc(&s.name),
        esc(s.state_type),
        esc(if l.visited { &l.status } else { "" }),
        cx = w / 2.0
    );
    let mut svg = format!(
        r#"<g class="container"><rect width="{w:.1}" height="{h:.1}" rx="8"/><g class="{}">{}</g>"#,
        l.class,
        link(&header)
    );
    let mut x = (w - inner_w) / 2.0;
    for d in &inner {
        let _ = write!(
            svg,
            r#"<g transform="translate({x:.1},{HEADER})"><rect class="branch" width="{:.1}" height="{:.1}" rx="6"/>{}</g>"#,
            d.w, d.h, d.svg
        );
        x += d.w + GAP_X;
    }
    svg.push_str("</g>");
    Drawn { w, h, svg }
}

#[cfg(test)]
#[path = "svg_tests.rs"]
mod tests;
