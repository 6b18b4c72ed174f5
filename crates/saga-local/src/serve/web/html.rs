//! The page frame every console page shares: escaping, the inline style
//! sheet and script (no external asset, so it works offline), and the
//! Content-Security-Policy that allows exactly those two by their SHA-256.

use std::sync::OnceLock;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// HTML-escape user data (also safe inside inline SVG and attribute values).
pub fn esc(s: &str) -> String {
    saga_apigw::html_escape(s)
}

/// The style sheet. Colour is never the only signal: every outcome also has
/// an icon and a word (see `Outcome::label`).
pub const CSS: &str = r#"
:root{--ok:#1a7f37;--fail:#cf222e;--caught:#9a6700;--retry:#0969da;--wait:#8250df;--run:#0550ae;--muted:#57606a;--line:#d0d7de}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#fff}
header{background:#24292f;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;align-items:center}
header a{color:#fff}
header strong{margin-right:auto}
main{padding:1rem;max-width:90rem;margin:0 auto}
a{color:#0550ae}
a:focus-visible,button:focus-visible,select:focus-visible,summary:focus-visible{outline:3px solid #fb8500;outline-offset:2px}
h1{font-size:1.35rem;margin:.2rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.table-wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all;max-height:24rem}
.status{font-weight:600;white-space:nowrap}
.st-SUCCEEDED,.st-COMPLETED{color:var(--ok)}
.st-FAILED,.st-TIMED_OUT,.st-ABORTED,.st-REJECTED,.st-NEEDS_ATTENTION{color:var(--fail)}
.st-RUNNING,.st-AWAITING_APPROVAL{color:var(--run)}
.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin-bottom:.75rem}
button,.button{font:inherit;padding:.35rem .8rem;border:1px solid #1f2328;border-radius:6px;background:#f6f8fa;color:#1f2328;cursor:pointer;text-decoration:none;display:inline-block}
button.danger,.button.danger{background:#cf222e;color:#fff;border-color:#a40e26}
.notice{border:1px solid var(--line);border-left:6px solid var(--run);padding:.6rem .8rem;margin:.75rem 0;background:#f6f8fa}
.notice.error{border-left-color:var(--fail)}
.notice.ok{border-left-color:var(--ok)}
.layout{display:grid;grid-template-columns:minmax(0,1fr);gap:1rem}
@media (min-width:60rem){.layout{grid-template-columns:minmax(0,3fr) minmax(18rem,2fr)}}
.graph-box{overflow:auto;border:1px solid var(--line);border-radius:6px;max-height:80vh;background:#fff}
.legend{display:flex;flex-wrap:wrap;gap:.3rem 1rem;font-size:13px;margin:.4rem 0;padding:0;list-style:none}
.panel{border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem;margin-bottom:1rem}
.panel:empty{display:none}
dl.kv{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15rem .75rem;margin:0}
dl.kv dt{color:var(--muted)}
dl.kv dd{margin:0;word-break:break-word}
details.state{border-top:1px solid var(--line);padding:.3rem 0}
details.state>summary{cursor:pointer;font-weight:600}
details.state:target{background:#fff8c5}
.muted{color:var(--muted)}
svg.graph{display:block}
svg.graph text{font:12px system-ui,sans-serif;fill:#1f2328}
svg.graph text.name{font-weight:600;font-size:13px}
svg.graph .node rect,svg.graph .node polygon{fill:#fff;stroke:#8c959f;stroke-width:1.5}
svg.graph .node.unvisited text{fill:#57606a}
svg.graph .node.ok rect,svg.graph .node.ok polygon{fill:#dafbe1;stroke:var(--ok)}
svg.graph .node.retried rect,svg.graph .node.retried polygon{fill:#ddf4ff;stroke:var(--retry)}
svg.graph .node.caught rect,svg.graph .node.caught polygon{fill:#fff8c5;stroke:var(--caught)}
svg.graph .node.failed rect,svg.graph .node.failed polygon{fill:#ffebe9;stroke:var(--fail)}
svg.graph .node.waiting rect,svg.graph .node.waiting polygon{fill:#fbefff;stroke:var(--wait)}
svg.graph .node.running rect,svg.graph .node.running polygon{fill:#ddf4ff;stroke:var(--run)}
svg.graph .node.current rect,svg.graph .node.current polygon{stroke-width:4}
svg.graph .container>rect{fill:#f6f8fa;stroke:#8c959f;stroke-dasharray:4 3}
svg.graph .branch{fill:none;stroke:#d0d7de;stroke-dasharray:2 3}
svg.graph a:focus rect,svg.graph a:focus polygon{stroke:#fb8500;stroke-width:4}
svg.graph .edge{fill:none;stroke:#8c959f;stroke-width:1.3}
svg.graph .edge.catch{stroke-dasharray:5 4}
svg.graph .edge.taken{stroke:#1f2328;stroke-width:2.6}
svg.graph text.elabel{font-size:11px;fill:#57606a;paint-order:stroke;stroke:#fff;stroke-width:4px}
svg.graph .terminal{fill:#57606a}
@media (max-width:30rem){main{padding:.6rem}th,td{padding:.3rem}}
"#;

/// The script: live updates (it refetches the page it is on and swaps the
/// parts marked `data-live`) and the state details panel. The pages are
/// complete without it.
pub const JS: &str = r#"
(function(){
  var live = document.querySelector('[data-live]');
  var every = 1500;
  function swap(doc){
    document.querySelectorAll('[data-live]').forEach(function(el){
      var fresh = doc.getElementById(el.id);
      if (fresh && fresh.innerHTML !== el.innerHTML) { el.innerHTML = fresh.innerHTML; }
    });
    var s = doc.querySelector('[data-live-stop]');
    return !s;
  }
  function poll(){
    if (document.hidden) { setTimeout(poll, every); return; }
    fetch(location.href, {headers: {'accept': 'text/html'}, credentials: 'same-origin'})
      .then(function(r){ return r.ok ? r.text() : null; })
      .then(function(text){
        var again = true;
        if (text) { again = swap(new DOMParser().parseFromString(text, 'text/html')); }
        showPanel();
        if (again) { setTimeout(poll, every); }
      })
      .catch(function(){ setTimeout(poll, every * 2); });
  }
  if (live && !document.querySelector('[data-live-stop]')) { setTimeout(poll, every); }
  var panel = document.getElementById('panel');
  function showPanel(){
    if (!panel) { return; }
    var id = decodeURIComponent(location.hash.slice(1));
    var d = id && document.getElementById(id);
    if (!d || d.tagName !== 'DETAILS') { return; }
    d.open = true;
    panel.innerHTML = '<h2>' + d.querySelector('summary').innerHTML + '</h2>' +
      d.querySelector('.body').innerHTML;
  }
  window.addEventListener('hashchange', showPanel);
  showPanel();
})();
"#;

fn csp_hash(source: &str) -> String {
    let digest = Sha256::digest(source.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The Content-Security-Policy of every console page: nothing but the
/// inline sheet and script above, no framing (the Stop / Redrive buttons
/// cannot be clickjacked), forms only to this origin.
pub fn content_security_policy() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        format!(
            "default-src 'none'; style-src {}; script-src {}; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            csp_hash(CSS),
            csp_hash(JS)
        )
    })
}

/// A whole page: the header with the console's navigation, then `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title} · saga-local console</title>
<style>{CSS}</style></head>
<body><header><strong>saga-local console</strong>
<nav aria-label="Console"><a href="/console">Executions</a> · <a href="/console/approvals">Approvals</a></nav></header>
<main>
{body}
</main>
<script>{JS}</script>
</body></html>
"#,
        title = esc(title)
    )
}

/// A status in words and colour.
pub fn status(s: &str) -> String {
    let s = esc(s);
    format!(r#"<span class="status st-{s}">{s}</span>"#)
}

/// Milliseconds since the epoch as UTC text (`2026-12-01 15:10:02`).
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A duration in the unit that reads best (`850 ms`, `12.3 s`, `4 min 2 s`).
pub fn duration(ms: i64) -> String {
    match ms {
        ..0 => String::new(),
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// JSON text pretty-printed (or as it came, if it isn't JSON), escaped.
pub fn json_block(text: &str) -> String {
    let pretty = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned());
    format!("<pre>{}</pre>", esc(&pretty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_inline_sheet_and_script() {
        let csp = content_security_policy();
        assert!(csp.contains(&csp_hash(CSS)) && csp.contains(&csp_hash(JS)));
        assert!(csp.starts_with("default-src 'none'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        let p = page("<x>", "");
        assert!(p.contains(&format!("<style>{CSS}</style>")));
        assert!(p.contains(&format!("<script>{JS}</script>")));
        assert!(p.contains("<title>&lt;x&gt; · saga-local console</title>"));
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(242_000), "4 min 2 s");
    }
}
