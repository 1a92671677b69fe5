/**
 * bench/compare.mjs: this checkout against another build of shahn, in the same run, on the same
 * machine, phases alternating between the two so that the machine's drift hits both alike.
 *
 *   npm run build
 *   git worktree add ../shahn-before <commit> && (cd ../shahn-before && npm ci)
 *   node bench/compare.mjs --other ../shahn-before [--rounds 2] [--duration 8] [--orders 5000]
 *
 * Each round, for each build, on a fresh SQLite store (`shahn merchant create`, then `shahn serve`
 * without the processor): the node:http baseline, then with wrk (1 thread, 64 connections):
 * - send: POST /v3/mobile/send, production, a new ref each;
 * - check-id: GET /v3/mobile/check-id/{id} rotating over 2,000 of those orders;
 * - check-id behind a proxy: the same with an X-Forwarded-For header and the trusted-proxy setting
 *   (SHAHN_TRUST_PROXY=1, one proxy);
 * - processor: --orders production orders queued, then `shahn worker` with the simulator at zero
 *   latency; orders per second until every one is final.
 * Reports req/s, p99, the server's CPU per request and the ratio to the baseline of the same round;
 * the spread between rounds is the run-to-run noise. Exit 0, or 2 when the run broke.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  benchArgs, col, envWithoutShahn, haveWrk, intArg, killChildrenNow, median, printHeaderComment, procCpu, round, ROOT, runMain, runWrk, sleep, startBaseline, startServeChild, stopChild,
} from './lib.mjs';

const args = benchArgs(import.meta.url, { other: { type: 'string' }, rounds: { type: 'string' }, duration: { type: 'string' }, orders: { type: 'string' } });
if (!args.other) {
  printHeaderComment(import.meta.url);
  process.exit(2);
}
if (!haveWrk()) {
  console.error('compare: wrk is needed (scripts/ensure-debian-packages.sh wrk)');
  process.exit(2);
}
const OTHER = resolve(args.other);
const ROUNDS = intArg(args, 'rounds', 1, 10, 2);
const DURATION = intArg(args, 'duration', 2, 120, 8);
const ORDERS = intArg(args, 'orders', 100, 200_000, 5000);
const BUILDS = [
  { name: 'other', root: OTHER, trustProxy: '1' },
  { name: 'this', root: ROOT, trustProxy: '1' },
];
const dir = mkdtempSync(join(tmpdir(), 'shahn-compare-'));
const children = new Set();

function cli(build, argv, env) {
  const r = spawnSync(process.execPath, [join(build.root, 'bin', 'shahn.js'), ...argv], { env: { ...envWithoutShahn(), SHAHN_LOG_LEVEL: 'error', ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${build.name}: shahn ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const serve = (build, env) => startServeChild(build.root, env, children);

/** wrk on `url` with a Lua script; the server's CPU µs per request measured around it. */
async function load(pid, url, script, label) {
  await runWrk({ url, connections: 64, durationS: 2, script: typeof script === 'function' ? script() : script }); // warm-up
  if (typeof script === 'function') script = script();
  const cpu0 = procCpu(pid);
  const r = await runWrk({ url, connections: 64, durationS: DURATION, script });
  const cpu = procCpu(pid) - cpu0;
  return { label, rps: r.rps, p99: r.p99, cpuUs: (cpu * 1e6) / r.requests, non2xx: r.non2xx };
}

let scripts = 0;
/** A new file (and ref prefix) for each wrk run: every send has a ref never used before. */
function sendScript(key) {
  const prefix = `b${process.pid}-${++scripts}`;
  const f = join(dir, `send-${prefix}.lua`);
  writeFileSync(f, `
local n = 0
local tid = "${prefix}"
request = function()
  n = n + 1
  local body = '{"plan_code":"PREPAID_MOBILIS","MSSIDN":"0661234567","amount":100,"ref":"b-' .. tid .. '-' .. n .. '"}'
  return wrk.format("POST", "/v3/mobile/send", { ["X-Access-Token"] = "${key}", ["Content-Type"] = "application/json" }, body)
end
`);
  return f;
}

function checkScript(key, ids, xff) {
  const f = join(dir, `check-${key.slice(0, 8)}-${xff ? 'xff' : 'direct'}.lua`);
  writeFileSync(f, `
local ids = { ${ids.map((i) => `"${i}"`).join(',')} }
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v3/mobile/check-id/" .. ids[(n % #ids) + 1], { ["X-Access-Token"] = "${key}"${xff ? `, ["X-Forwarded-For"] = "198.51.100." .. ((n % 250) + 1)` : ''} })
end
`);
  return f;
}

async function idsOf(url, key) {
  const ids = [];
  for (let page = 1; ids.length < 2000; page++) {
    const r = await (await fetch(`${url}/v3/mobile/list?pageSize=100&page=${page}`, { headers: { 'x-access-token': key } })).json();
    if (!r.data?.items?.length) break;
    ids.push(...r.data.items.map((t) => t._id));
  }
  return ids;
}

async function processorPhase(build, db, key) {
  // Queue ORDERS production orders (no processor), then let a worker settle them at zero latency.
  const api = await serve(build, { SHAHN_DB: db, SHAHN_PROCESSOR: 'false' });
  const sendOne = (i) =>
    fetch(`${api.url}/v3/mobile/send`, { method: 'POST', headers: { 'x-access-token': key, 'content-type': 'application/json' }, body: JSON.stringify({ plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: 100, ref: `p-${i}` }) });
  for (let i = 0; i < ORDERS; i += 200) await Promise.all(Array.from({ length: Math.min(200, ORDERS - i) }, (_, j) => sendOne(i + j)));
  await stopChild(children, api.child, 10_000);
  const sim = join(dir, 'sim-instant.json');
  writeFileSync(sim, JSON.stringify({ defaults: { latencyMs: { min: 0, max: 0 }, rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } } }));
  const Database = (await import('better-sqlite3')).default;
  const raw = new Database(db, { readonly: true });
  const open = () => raw.prepare(`SELECT COUNT(*) AS n FROM orders WHERE env = 'PRODUCTION' AND status IN ('PENDING', 'HANDLING')`).get().n;
  const t0 = performance.now();
  const worker = spawn(process.execPath, [join(build.root, 'bin', 'shahn.js'), 'worker'], {
    env: { ...envWithoutShahn(), SHAHN_DB: db, SHAHN_LOG_LEVEL: 'error', SHAHN_SIMULATOR_CONFIG: sim, SHAHN_PROCESSOR_CONCURRENCY: '64' },
    stdio: 'ignore',
  });
  children.add(worker);
  while (open() > 0) {
    if (performance.now() - t0 > 300_000) throw new Error(`${build.name}: the worker did not settle the orders`);
    await sleep(50);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = procCpu(worker.pid);
  await stopChild(children, worker, 10_000);
  raw.close();
  return { label: 'processor', ordersPerS: ORDERS / seconds, cpuUsPerOrder: (cpu * 1e6) / ORDERS };
}

async function oneBuild(build, round) {
  const db = join(dir, `${build.name}-${round}.db`);
  const merchant = JSON.parse(cli(build, ['merchant', 'create', '--username', '+213550000001', '--balance', '100000000', '--json'], { SHAHN_DB: db }));
  const out = [];
  let s = await serve(build, { SHAHN_DB: db, SHAHN_PROCESSOR: 'false' });
  out.push(await load(s.child.pid, s.url, () => sendScript(merchant.productionKey), 'send'));
  const ids = await idsOf(s.url, merchant.productionKey);
  await stopChild(children, s.child, 10_000);
  // Each check-id phase on a fresh server process (none inherits the sends' write load), direct and behind a proxy.
  s = await serve(build, { SHAHN_DB: db, SHAHN_PROCESSOR: 'false' });
  out.push(await load(s.child.pid, s.url, checkScript(merchant.productionKey, ids, false), 'check-id'));
  await stopChild(children, s.child, 10_000);
  s = await serve(build, { SHAHN_DB: db, SHAHN_PROCESSOR: 'false', SHAHN_TRUST_PROXY: build.trustProxy });
  out.push(await load(s.child.pid, s.url, checkScript(merchant.productionKey, ids, true), 'check-id, proxy'));
  await stopChild(children, s.child, 10_000);
  const pdb = join(dir, `${build.name}-${round}-p.db`);
  const pm = JSON.parse(cli(build, ['merchant', 'create', '--username', '+213550000002', '--balance', '100000000', '--json'], { SHAHN_DB: pdb }));
  out.push(await processorPhase(build, pdb, pm.productionKey));
  return out;
}

async function main() {
  console.log(`this checkout (${ROOT}) against ${OTHER}: ${ROUNDS} rounds, wrk 64 connections ${DURATION} s per phase, ${ORDERS} orders for the processor\n`);
  const results = { this: [], other: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const baseline = await startBaseline('{"success":true,"data":{"_id":"x"},"requestId":"req_1_x"}', 'req_1_x', { dir, children });
    const base = await load(baseline.child.pid, baseline.url, undefined, 'baseline');
    await stopChild(children, baseline.child, 5000);
    console.log(`round ${r + 1}: baseline ${round(base.rps, 0)} req/s, p99 ${round(base.p99, 2)} ms, ${round(base.cpuUs, 1)} µs/req`);
    // Alternate which build goes first.
    const order = r % 2 === 0 ? BUILDS : [...BUILDS].reverse();
    for (const b of order) {
      const phases = await oneBuild(b, r);
      for (const p of phases) {
        results[b.name].push({ round: r, base: base.rps, ...p });
        if (p.label === 'processor') console.log(`  ${col(b.name, 5)} ${col(p.label, 16)} ${col(round(p.ordersPerS, 0), 8)} orders/s   ${col(round(p.cpuUsPerOrder, 0), 5)} µs CPU/order`);
        else console.log(`  ${col(b.name, 5)} ${col(p.label, 16)} ${col(round(p.rps, 0), 8)} req/s  p99 ${col(round(p.p99, 2), 6)} ms  ${col(round(p.rps / base.rps, 2), 5)}× baseline  ${col(round(p.cpuUs, 1), 6)} µs/req${p.non2xx ? `  (${p.non2xx} non-2xx)` : ''}`);
      }
    }
  }
  console.log('\nmedians over the rounds (this / other):');
  for (const label of ['send', 'check-id', 'check-id, proxy', 'processor']) {
    const pick = (name, f) => median(results[name].filter((p) => p.label === label).map(f));
    if (label === 'processor') {
      const [t, o] = [pick('this', (p) => p.ordersPerS), pick('other', (p) => p.ordersPerS)];
      console.log(`  ${col(label, 16)} ${col(round(t, 0), 7)} vs ${col(round(o, 0), 7)} orders/s  (${round(t / o, 2)}×)`);
    } else {
      const [t, o] = [pick('this', (p) => p.rps / p.base), pick('other', (p) => p.rps / p.base)];
      const [tc, oc] = [pick('this', (p) => p.cpuUs), pick('other', (p) => p.cpuUs)];
      console.log(`  ${col(label, 16)} ${col(round(t, 2), 5)}× vs ${col(round(o, 2), 5)}× baseline;  ${col(round(tc, 1), 6)} vs ${col(round(oc, 1), 6)} µs CPU/request`);
    }
  }
  return 0;
}

runMain(main, async () => {
  killChildrenNow(children);
  rmSync(dir, { recursive: true, force: true });
});
