// Computes the expected JSONata values of the conformance cases with the
// reference implementation, jsonata-js 2.0.6 (the version AWS Step Functions
// runs), so that no expected JSONata value is typed by hand.
//
//   node check.mjs --check   every stored value must equal the reference (exit 1 if not)
//   node check.mjs --write   store the reference values in the case files
//
// A case's `reference` array lists the values to compute:
//   {"at": "/expect/output",            JSON pointer into the case
//    "expression": "$states.input.a",   a JSONata expression (no {% %}), or
//    "template": {"a": "{% ... %}"},    any JSON: each "{% … %}" string evaluated, other values literal
//    "states": {"input": …, "result": …, "errorOutput": …, "context": …},   bound as $states
//    "variables": {"x": 1}}             workflow variables, bound as $x
// The AWS functions are added as the Step Functions documentation describes
// them ($partition, $range, $hash, $parse); $random and $uuid are not
// deterministic, so a reference that calls them is refused (such cases use
// `checks` instead).

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const jsonata = require("jsonata");
const JSONATA_VERSION = "2.0.6";

const here = dirname(fileURLToPath(import.meta.url));
const casesDir = join(here, "..");

const mode = process.argv[2];
if (mode !== "--check" && mode !== "--write") {
  console.error("usage: node check.mjs --check | --write");
  process.exit(2);
}
const installed = require("jsonata/package.json").version;
if (installed !== JSONATA_VERSION) {
  console.error(`jsonata ${installed} is installed; the reference is ${JSONATA_VERSION} (npm ci in ${here})`);
  process.exit(2);
}

// https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html#jsonata-functions-provided-by-sfn
const HASHES = { MD5: "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" };
function awsFunctions(expr) {
  expr.registerFunction("partition", (arr, size) => {
    const out = [];
    for (let i = 0; i < arr.length; i += size) out.push(arr.slice(i, i + size));
    return out;
  }, "<an:a>");
  expr.registerFunction("range", (start, end, step) => {
    const out = [];
    if (step > 0) for (let v = start; v <= end; v += step) out.push(v);
    if (step < 0) for (let v = start; v >= end; v += step) out.push(v);
    return out;
  }, "<nnn:a>");
  expr.registerFunction("hash", (value, algorithm) => {
    const name = HASHES[algorithm];
    if (!name) throw new Error(`unknown hash algorithm ${algorithm}`);
    return createHash(name).update(value).digest("hex");
  }, "<ss:s>");
  expr.registerFunction("parse", (text) => JSON.parse(text), "<s:x>");
  for (const f of ["random", "uuid"]) {
    expr.registerFunction(f, () => {
      throw new Error(`$${f} is not deterministic: check it with "checks", not a reference`);
    });
  }
}

async function evalExpression(text, ref) {
  const expr = jsonata(text);
  awsFunctions(expr);
  const bindings = { ...(ref.variables ?? {}), states: ref.states ?? {} };
  const v = await expr.evaluate(undefined, bindings);
  if (v === undefined) throw new Error(`${JSON.stringify(text)} returned nothing (undefined)`);
  // The value as JSON, as Step Functions stores it (drops jsonata's sequence flags).
  return JSON.parse(JSON.stringify(v));
}

const EXPR = /^\{%([\s\S]*)%\}$/;
async function evalTemplate(t, ref) {
  if (typeof t === "string") {
    const m = EXPR.exec(t);
    return m ? evalExpression(m[1], ref) : t;
  }
  if (Array.isArray(t)) {
    const out = [];
    for (const x of t) out.push(await evalTemplate(x, ref));
    return out;
  }
  if (t !== null && typeof t === "object") {
    const out = {};
    for (const [k, v] of Object.entries(t)) out[k] = await evalTemplate(v, ref);
    return out;
  }
  return t;
}

function pointerParts(p) {
  if (!p.startsWith("/")) throw new Error(`pointer ${p} must start with /`);
  return p.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}
function getAt(obj, p) {
  let cur = obj;
  for (const k of pointerParts(p)) {
    if (cur === null || typeof cur !== "object" || !(k in cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}
function setAt(obj, p, value) {
  const parts = pointerParts(p);
  let cur = obj;
  parts.slice(0, -1).forEach((k, i) => {
    // A missing container is an array where the next step is an index.
    if (cur[k] === undefined) cur[k] = /^\d+$/.test(parts[i + 1]) ? [] : {};
    cur = cur[k];
  });
  cur[parts[parts.length - 1]] = value;
}

function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

let values = 0;
let casesWithRefs = 0;
const failures = [];
const files = readdirSync(casesDir).filter((f) => f.endsWith(".json")).sort();
for (const file of files) {
  const path = join(casesDir, file);
  const cases = JSON.parse(readFileSync(path, "utf8"));
  let changed = false;
  for (const c of cases) {
    if (!c.reference) continue;
    casesWithRefs += 1;
    for (const ref of c.reference) {
      values += 1;
      const label = `${file.replace(/\.json$/, "")}::${c.name} ${ref.at}`;
      let want;
      try {
        if ((ref.expression === undefined) === (ref.template === undefined)) {
          throw new Error("a reference needs exactly one of expression and template");
        }
        want = ref.expression !== undefined
          ? await evalExpression(ref.expression, ref)
          : await evalTemplate(ref.template, ref);
      } catch (e) {
        failures.push(`${label}: the reference failed: ${e.message ?? JSON.stringify(e)}`);
        continue;
      }
      const stored = getAt(c, ref.at);
      if (stored !== undefined && canonical(stored) === canonical(want)) continue;
      if (mode === "--write") {
        setAt(c, ref.at, want);
        changed = true;
      } else {
        failures.push(`${label}: stored ${JSON.stringify(stored)}, jsonata ${JSONATA_VERSION} gives ${JSON.stringify(want)}`);
      }
    }
  }
  if (changed) writeFileSync(path, JSON.stringify(cases, null, 1) + "\n");
}

for (const f of failures) console.error(`MISMATCH ${f}`);
const verb = mode === "--write" ? "computed" : "checked";
console.log(`conformance reference (jsonata ${JSONATA_VERSION}): ${values} values in ${casesWithRefs} cases ${verb}, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
