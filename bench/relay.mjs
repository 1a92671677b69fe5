#!/usr/bin/env node
/**
 * Relay benchmark: a real `shahn serve` A relays every order to a real `shahn serve` B (its upstream,
 * on loopback, with a production key of B's), as a reseller in front of OneClickDz would.
 *
 *   npm run build && node bench/relay.mjs [--orders N] [--slow-orders M] [--concurrency C] [--quick] [--out FILE]
 *
 * Phase 1, zero latency: B's simulator answers at once. N orders (default 2,000) are sent to A through
 * its API; measured: orders per second from the first send to the last final order, and the same N
 * orders sent straight to B in the same run (the baseline: B alone); the CPU of A and of B per order.
 * A relayed order holds one of A's processor calls (SHAHN_PROCESSOR_CONCURRENCY, --concurrency,
 * default 64 as in `serve`) until its upstream order is final, checked first after 2 s: A's rate is
 * bounded by C ÷ that time, whatever B's speed.
 *
 * Phase 2, the documented latencies: B's simulator answers after 5-30 s (its defaults, the status
 * guide's 5-30 s). M orders (default 300) through A; measured: upstream calls per order by kind
 * (checks and list pages against the goal of at most 3 on average, as the sync kit achieves; sends;
 * pings and balance reads are per process, not per order) and the time to final, against the same
 * orders sent straight to B afterwards.
 *
 * Checks: every order final and FULFILLED on both sides, B holds exactly one order per A order
 * (by ref), both ledgers audited (checkMoney). Results: bench/results/relay.json (--out).
 * Exit 0 = ran and all checks passed, 1 = a check failed, 2 = the run broke.
 * --quick: 300 and 60 orders.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { benchArgs, dist, envWithoutShahn, intArg, killChildrenNow, procCpu, ROOT, round, sleep, startServeChild, stopChild } from './lib.mjs';

const args = benchArgs(import.meta.url, { orders: { type: 'string' }, 'slow-orders': { type: 'string' }, concurrency: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } });
const N = intArg(args, 'orders', 1, 100_000, args.quick ? 300 : 2_000);
const M = intArg(args, 'slow-orders', 1, 10_000, args.quick ? 60 : 300);
const CONCURRENCY = intArg(args, 'concurrency', 1, 100_000, 64);
const OUT = args.out ?? join(ROOT, 'bench', 'results', 'relay.json');

const { openSqliteStore } = await dist('store/sqlite/open-sqlite-store.js');
const { default: Database } = await import('better-sqlite3');

const children = new Set();
process.on('exit', () => killChildrenNow(children));
const log = (m) => process.stderr.write(`[relay] ${m}\n`);
const cli = (cliArgs, env) => execFileSync(process.execPath, [join(ROOT, 'bin', 'shahn.js'), ...cliArgs], { env: { ...envWithoutShahn(), ...env }, encoding: 'utf8' });

/** Send `count` orders to `url` with 32 requests in flight; numbers from `first`. */
async function sendAll(url, key, count, first) {
  let next = 0;
  const failures = [];
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const res = await fetch(`${url}/v3/mobile/send`, {
        method: 'POST',
        headers: { 'x-access-token': key, 'content-type': 'application/json' },
        body: JSON.stringify({ plan_code: 'PREPAID_MOBILIS', MSSIDN: `066${String(first + i).padStart(7, '0')}`, amount: 100 }),
      });
      const body = await res.json();
      if (!body.success) failures.push(body.error?.code ?? res.status);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return failures;
}

function statuses(db) {
  return db.prepare(`SELECT status, COUNT(*) AS n FROM orders WHERE env = 'PRODUCTION' GROUP BY status`).all().reduce((a, r) => ({ ...a, [r.status]: r.n }), {});
}

async function waitFinal(db, count, timeoutMs, what) {
  const t0 = Date.now();
  for (;;) {
    const s = statuses(db);
    const final = (s.FULFILLED ?? 0) + (s.REFUNDED ?? 0) + (s.UNKNOWN_ERROR ?? 0);
    if (final >= count) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not final after ${timeoutMs} ms: ${JSON.stringify(s)}`);
    await sleep(50);
  }
}

async function audit(dbPath) {
  const store = openSqliteStore(dbPath);
  try {
    return await store.ledger.checkMoney();
  } finally {
    await store.close();
  }
}

/** A serve child on its own store with a merchant of 10^8 DZD. */
async function server(name, dir, extraEnv) {
  const env = { SHAHN_DB: join(dir, `${name}.db`), SHAHN_LOG_LEVEL: 'warn', ...extraEnv };
  const merchant = JSON.parse(cli(['merchant', 'create', '--username', '+213550000019', '--balance', '100000000', '--json'], env));
  const s = await startServeChild(ROOT, env, children, 60_000);
  return { name, env, db: env.SHAHN_DB, key: merchant.productionKey, ...s };
}

async function phase(label, { count, first, latency, timeoutMs }) {
  const dir = mkdtempSync(join(os.tmpdir(), `shahn-relay-bench-${label}-`));
  const simulator = join(dir, 'simulator.json');
  writeFileSync(simulator, JSON.stringify(latency ? { defaults: { latencyMs: latency, rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } } } : { defaults: { rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } } }));
  const b = await server('b', dir, { SHAHN_SIMULATOR_CONFIG: simulator });
  const gateways = join(dir, 'gateways.json');
  writeFileSync(gateways, JSON.stringify({ gateways: { upstream: { type: 'relay', baseUrl: b.url, apiKeyEnv: 'UPSTREAM_KEY', pingEveryMs: 1_000 } }, routes: [{ operator: '*', gateway: 'upstream' }] }));
  const a = await server('a', dir, { SHAHN_GATEWAYS: gateways, UPSTREAM_KEY: b.key, SHAHN_GATEWAY_TIMEOUT_MS: '120000', SHAHN_LEASE_MS: '150000', SHAHN_PROCESSOR_CONCURRENCY: String(CONCURRENCY) });
  const aDb = new Database(a.db, { readonly: true });
  const bDb = new Database(b.db, { readonly: true });
  const cpu0 = { a: procCpu(a.child.pid), b: procCpu(b.child.pid) };
  const t0 = Date.now();
  const failures = await sendAll(a.url, a.key, count, first);
  const aFinal = await waitFinal(aDb, count, timeoutMs, `${label}: A`);
  const elapsed = (Date.now() - t0) / 1000;
  const cpu = { a: procCpu(a.child.pid) - cpu0.a, b: procCpu(b.child.pid) - cpu0.b };
  await sleep(1_500); // the relay's next publish carries its final call counts
  const channel = aDb.prepare(`SELECT status FROM gateway_channels WHERE gateway = 'upstream'`).get();
  const calls = channel ? JSON.parse(channel.status).calls : undefined;
  const perRef = bDb.prepare(`SELECT COUNT(*) AS n FROM orders WHERE ref LIKE 'shahn.%' GROUP BY ref HAVING COUNT(*) > 1`).all();
  const bHeld = bDb.prepare(`SELECT COUNT(*) AS n FROM orders WHERE ref LIKE 'shahn.%'`).get().n;
  const result = {
    orders: count,
    sendFailures: failures.length,
    seconds: round(elapsed, 2),
    ordersPerSecond: round(count / elapsed, 1),
    statusesA: aFinal,
    statusesB: statuses(bDb),
    cpuMsPerOrder: { a: round((cpu.a * 1000) / count, 2), b: round((cpu.b * 1000) / count, 2) },
    upstreamCalls: calls,
    checksPerOrder: calls ? round((calls.check + calls.list) / count, 2) : null,
    sendsPerOrder: calls ? round(calls.send / count, 2) : null,
    bHeld,
    refsHeldTwice: perRef.length,
  };
  // The baseline: the same orders straight to B, in the same run.
  {
    const before = statuses(bDb);
    const done = (before.FULFILLED ?? 0) + (before.REFUNDED ?? 0) + (before.UNKNOWN_ERROR ?? 0);
    const cpuB0 = procCpu(b.child.pid);
    const t1 = Date.now();
    await sendAll(b.url, b.key, count, first + 1_000_000);
    await waitFinal(bDb, done + count, timeoutMs, `${label}: B alone`);
    const alone = (Date.now() - t1) / 1000;
    result.baseline = { what: 'the same orders sent straight to B', seconds: round(alone, 2), ordersPerSecond: round(count / alone, 1), cpuMsPerOrderB: round(((procCpu(b.child.pid) - cpuB0) * 1000) / count, 2) };
    result.ratio = round(result.ordersPerSecond / result.baseline.ordersPerSecond, 2);
  }
  aDb.close();
  bDb.close();
  await stopChild(children, a.child, 10_000);
  await stopChild(children, b.child, 10_000);
  result.ledgers = { a: await audit(a.db), b: await audit(b.db) };
  return result;
}

async function main() {
  log(`phase 1: ${N} orders A → B, B's simulator at zero latency; then the same straight to B`);
  const fast = await phase('fast', { count: N, first: 0, latency: { min: 0, max: 0 }, timeoutMs: 300_000 });
  log(`phase 1: ${JSON.stringify(fast)}`);
  log(`phase 2: ${M} orders A → B, B's simulator at the documented 5-30 s`);
  const slow = await phase('slow', { count: M, first: 5_000_000, latency: undefined, timeoutMs: 300_000 });
  log(`phase 2: ${JSON.stringify(slow)}`);
  const checks = {
    allFulfilled: [fast, slow].every((p) => p.statusesA.FULFILLED === p.orders),
    oneUpstreamOrderEach: [fast, slow].every((p) => p.bHeld === p.orders && p.refsHeldTwice === 0),
    sendsAccepted: [fast, slow].every((p) => p.sendFailures === 0),
    ledgersChecked: [fast, slow].every((p) => p.ledgers.a.length === 0 && p.ledgers.b.length === 0),
    atMost3ChecksPerOrder: slow.checksPerOrder !== null && slow.checksPerOrder <= 3,
  };
  const cores = os.cpus().length;
  console.log(`relay: A → B on loopback (${cores} cores; A's processor ${CONCURRENCY} calls at once)`);
  console.log(`  zero latency: ${fast.orders} orders in ${fast.seconds} s = ${fast.ordersPerSecond} orders/s through A → B; straight to B ${fast.baseline.ordersPerSecond} orders/s: ratio ${fast.ratio}×`);
  console.log(`                CPU per order: A ${fast.cpuMsPerOrder.a} ms, B ${fast.cpuMsPerOrder.b} ms (B alone ${fast.baseline.cpuMsPerOrderB} ms); upstream calls ${JSON.stringify(fast.upstreamCalls)}`);
  console.log(`  documented latencies (5-30 s): ${slow.orders} orders final in ${slow.seconds} s; upstream checks per order ${slow.checksPerOrder} (goal ≤ 3), sends per order ${slow.sendsPerOrder}; calls ${JSON.stringify(slow.upstreamCalls)}`);
  console.log(`  checks: ${Object.entries(checks).map(([k, v]) => `${k} ${v ? 'ok' : 'FAILED'}`).join(', ')}`);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify({ at: new Date().toISOString(), cores, concurrency: CONCURRENCY, fast, slow, checks }, null, 2)}\n`);
  console.log(`  results: ${OUT}`);
  process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 2;
});
