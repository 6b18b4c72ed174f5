// Whole-process timing: aws-local-stepfunctions (JSONPath only; it has no
// JSONata) against `saga-local exec` in JSONPath and in JSONata, on the same
// generated machines: a 2,000-state Pass/Choice chain and a 2,000-item Map.
// Each round runs every command once, in a rotating order (the machine is
// shared, so the load falls on all of them alike); the medians and the
// ratios to the peer's JSONPath are printed. Run by scripts/bench-peer.sh.
//
//   node bench.mjs --saga-local PATH [--runs N] [--dir DIR]

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const sagaLocal = opt('--saga-local');
const runs = Number(opt('--runs', '5'));
const dir = opt('--dir', join(here, '..', '..', 'target', 'bench-peer'));
if (!sagaLocal || !(runs >= 1)) {
  console.error('usage: node bench.mjs --saga-local PATH [--runs N] [--dir DIR]');
  process.exit(2);
}
const peerCli = join(here, 'node_modules', 'aws-local-stepfunctions', 'bin', 'CLI.cjs');

/** `pairs` Pass states, each followed by a Choice: 2 × pairs states. The
 * steps count from 1: the peer ignores a `Result` of 0 (it tests truthiness). */
function chain(pairs, jsonata) {
  const states = {};
  for (let i = 0; i < pairs; i++) {
    const next = i + 1 === pairs ? 'Done' : `P${i + 1}`;
    states[`P${i}`] = jsonata
      ? { Type: 'Pass', Output: `{% $merge([$states.input, {'step': ${i + 1}}]) %}`, Next: `C${i}` }
      : { Type: 'Pass', Result: i + 1, ResultPath: '$.step', Next: `C${i}` };
    states[`C${i}`] = {
      Type: 'Choice',
      Choices: [
        jsonata
          ? { Condition: '{% $states.input.step >= 0 %}', Next: next }
          : { Variable: '$.step', NumericGreaterThanEquals: 0, Next: next },
      ],
      Default: 'Done',
    };
  }
  states.Done = { Type: 'Succeed' };
  const def = { StartAt: 'P0', States: states };
  return jsonata ? { QueryLanguage: 'JSONata', ...def } : def;
}

/** An inline Map over `$.items` with an ItemSelector and a one-state processor. */
function map(jsonata) {
  const processor = (p) => ({ ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'P', States: { P: p } });
  const m = jsonata
    ? {
        Type: 'Map',
        Items: '{% $states.input.items %}',
        ItemSelector: { i: '{% $states.context.Map.Item.Index %}', v: '{% $states.context.Map.Item.Value %}' },
        ItemProcessor: processor({ Type: 'Pass', Output: '{% $states.input.v %}', End: true }),
        End: true,
      }
    : {
        Type: 'Map',
        ItemsPath: '$.items',
        ItemSelector: { 'i.$': '$$.Map.Item.Index', 'v.$': '$$.Map.Item.Value' },
        ItemProcessor: processor({ Type: 'Pass', OutputPath: '$.v', End: true }),
        End: true,
      };
  const def = { StartAt: 'M', States: { M: m } };
  return jsonata ? { QueryLanguage: 'JSONata', ...def } : def;
}

mkdirSync(dir, { recursive: true });
const write = (name, value) => {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
};
const items = Array.from({ length: 2000 }, (_, i) => ({ sku: `SKU-${i}`, q: i }));
const inputs = {
  chain: write('chain-input.json', { order: { id: 'o-1', total: 1500 } }),
  map: write('map-input.json', { items }),
};
const machines = {
  chain: { jsonpath: write('chain-jsonpath.asl.json', chain(1000, false)), jsonata: write('chain-jsonata.asl.json', chain(1000, true)) },
  map: { jsonpath: write('map-jsonpath.asl.json', map(false)), jsonata: write('map-jsonata.asl.json', map(true)) },
};

/** Runs one command; returns [milliseconds, the execution's output]. */
function time(cmd, argv, stdin) {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { input: stdin, encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  }
  return [ms, r.stdout];
}

// The peer prints its result with console.log (Node's inspect format, long
// arrays elided), not as JSON: its run is checked by a marker of the output.
const peerMarker = { chain: 'step: 1000', map: "sku: 'SKU-0'" };
const peer = (workload) => () => {
  const [ms, out] = time(process.execPath, [peerCli, '-f', machines[workload].jsonpath], readInput(workload));
  if (!out.includes(peerMarker[workload])) {
    throw new Error(`aws-local-stepfunctions ${workload}: unexpected output ${out.slice(0, 200)}`);
  }
  return [ms, null];
};
const saga = (workload, ql) => () => {
  const [ms, out] = time(sagaLocal, ['exec', machines[workload][ql], '--input', `@${inputs[workload]}`]);
  const summary = JSON.parse(out);
  if (summary.status !== 'SUCCEEDED') {
    throw new Error(`saga-local exec ${workload} ${ql}: ${out}`);
  }
  return [ms, summary.output];
};
const readInput = (workload) => readFileSync(inputs[workload], 'utf8');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

for (const [workload, label] of [['chain', '2,000-state Pass/Choice chain'], ['map', '2,000-item Map']]) {
  const commands = [
    ['aws-local-stepfunctions 3.0.0, JSONPath', peer(workload)],
    ['saga-local exec, JSONPath', saga(workload, 'jsonpath')],
    ['saga-local exec, JSONata', saga(workload, 'jsonata')],
  ];
  const times = commands.map(() => []);
  const outputs = commands.map(() => null);
  for (let round = 0; round < runs; round++) {
    for (let k = 0; k < commands.length; k++) {
      const c = (round + k) % commands.length;
      const [ms, out] = commands[c][1]();
      times[c].push(ms);
      outputs[c] = out;
    }
  }
  // Both languages did the same work: the same final output.
  if (!isDeepStrictEqual(outputs[1], outputs[2])) {
    throw new Error(`${label}: JSONPath and JSONata gave different outputs`);
  }
  const peerMedian = median(times[0]);
  console.log(`\n${label} (whole process, median of ${runs} runs; min–max)`);
  commands.forEach(([name], c) => {
    const m = median(times[c]);
    const lo = Math.min(...times[c]).toFixed(0);
    const hi = Math.max(...times[c]).toFixed(0);
    const ratio = c === 0 ? '' : `  ${(peerMedian / m).toFixed(1)}× faster than the peer`;
    console.log(`  ${name.padEnd(42)} ${m.toFixed(0).padStart(7)} ms  (${lo}–${hi})${ratio}`);
  });
}
