#!/usr/bin/env node
/**
 * Webhook delivery benchmark: a real `shahn serve` (SQLite, its simulator at zero latency) and three
 * webhook endpoints of one merchant on loopback, in this process: two that answer 200 at once, and a
 * third that is either dead (its port refuses connections) or slow (it answers 200 after 4 s, so a
 * backlog of thousands of events builds up for it). Both runs, one after the other, on fresh stores:
 * the dead run is the baseline for the slow one (the live endpoints' figures should not move).
 *
 *   npm run build && node bench/webhooks.mjs [--orders N] [--quick] [--third dead|slow|both] [--out FILE]
 *
 * N production orders (default 5,000) are sent through the API; each makes two events (HANDLING, then
 * FULFILLED), so 2N events for each endpoint (10,000 by default). Measured at the live endpoints:
 * events per second (first event created to last received), delivery lag (receipt time minus the
 * event's own time stamp) p50/p99/max, events received twice; the dead endpoint's attempts; the CPU of
 * `serve` per event. Checks: every event of the store reached both live endpoints, every signature
 * verifies (the SDK's verifyWebhook), the dead endpoint did not hold the others back (its failed
 * attempts are recorded while the live ones receive everything; the slow one received events and
 * still has a backlog when the live ones have everything). Exit 0 = all checks passed, 1 = a check
 * failed, 2 = the run broke. --quick: 500 orders.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { benchArgs, envWithoutShahn, intArg, killChildrenNow, percentile, procCpu, ROOT, round, sleep, startServeChild, stopChild } from './lib.mjs';

const args = benchArgs(import.meta.url, { orders: { type: 'string' }, quick: { type: 'boolean' }, third: { type: 'string' }, out: { type: 'string' } });
const N = intArg(args, 'orders', 1, 1_000_000, args.quick ? 500 : 5_000);
const OUT = args.out ?? join(ROOT, 'bench', 'results', 'webhooks.json');
const { verifyWebhook } = await import('@shahn/sdk');
const { default: Database } = await import('better-sqlite3');

const children = new Set();
process.on('exit', () => killChildrenNow(children));
const log = (m) => process.stderr.write(`[webhooks] ${m}\n`);
const cli = (cliArgs, env) => execFileSync(process.execPath, [join(ROOT, 'bin', 'shahn.js'), ...cliArgs], { env: { ...envWithoutShahn(), ...env }, encoding: 'utf8' });

const SLOW_MS = 4_000;

/** A live endpoint: 200 at once (or after `delayMs`); keeps (id, receipt time, event time) and verifies every signature. */
async function liveEndpoint(name, delayMs = 0) {
  const got = [];
  let secret = '';
  let badSignatures = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const body = Buffer.concat(chunks).toString('utf8');
      if (delayMs > 0) setTimeout(() => res.writeHead(200).end(), delayMs);
      else res.writeHead(200).end();
      try {
        const e = verifyWebhook(body, req.headers, secret);
        got.push({ id: req.headers['webhook-id'], at, eventAt: Date.parse(e.timestamp) });
      } catch {
        badSignatures++;
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { name, url: `http://127.0.0.1:${server.address().port}/hook`, got, setSecret: (s) => (secret = s), bad: () => badSignatures, close: () => new Promise((r) => server.close(r)) };
}

/** One run: 2 live endpoints and a third that is `third` ('dead' or 'slow'). */
async function run(third) {
  const dir = mkdtempSync(join(os.tmpdir(), 'shahn-webhooks-bench-'));
  const simulator = join(dir, 'simulator.json');
  writeFileSync(simulator, JSON.stringify({ defaults: { latencyMs: { min: 0, max: 0 }, rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } } }));
  const env = { SHAHN_DB: join(dir, 'shahn.db'), SHAHN_SIMULATOR_CONFIG: simulator, SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true', SHAHN_WEBHOOK_TIMEOUT_MS: '5000' };
  const merchant = JSON.parse(cli(['merchant', 'create', '--username', '+213550000029', '--balance', '100000000', '--json'], env));
  const server = await startServeChild(ROOT, env, children, 60_000);
  const live = [await liveEndpoint('live-1'), await liveEndpoint('live-2')];
  // The dead endpoint: a port that was free a moment ago, with nothing listening. The slow one: 200 after SLOW_MS.
  let thirdUrl;
  let slow;
  if (third === 'slow') {
    slow = await liveEndpoint('slow', SLOW_MS);
    thirdUrl = slow.url;
  } else {
    const probe = createServer();
    await new Promise((r) => probe.listen(0, '127.0.0.1', r));
    thirdUrl = `http://127.0.0.1:${probe.address().port}/hook`;
    await new Promise((r) => probe.close(r));
  }
  const api = async (path, body) => (await (await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'x-access-token': merchant.productionKey, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json());
  for (const e of live) e.setSecret((await api('/v3/webhooks', { url: e.url })).data.secret);
  const dead = (await api('/v3/webhooks', { url: thirdUrl })).data;
  slow?.setSecret(dead.secret);
  log(`${N} orders → ${2 * N} events for each of 2 live endpoints and 1 ${third} one`);

  const cpu0 = procCpu(server.child.pid);
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const r = await api('/v3/mobile/send', { plan_code: 'PREPAID_MOBILIS', MSSIDN: `066${String(i).padStart(7, '0')}`, amount: 100 });
      if (!r.success) throw new Error(`send failed: ${JSON.stringify(r)}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  log(`sent in ${Date.now() - t0} ms`);
  const db = new Database(env.SHAHN_DB, { readonly: true });
  const expected = () => db.prepare('SELECT COUNT(*) AS n FROM webhook_events').get().n;
  const deadline = Date.now() + 600_000;
  for (;;) {
    const want = expected();
    const ok = live.every((e) => new Set(e.got.map((g) => g.id)).size >= 2 * N) && want >= 2 * N;
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`not delivered in time: ${live.map((e) => new Set(e.got.map((g) => g.id)).size).join(', ')} of ${want}`);
    await sleep(100);
  }
  const end = Math.max(...live.flatMap((e) => e.got.map((g) => g.at)));
  const cpu = procCpu(server.child.pid) - cpu0;
  const deadRow = db.prepare(`SELECT COUNT(*) AS messages, SUM(attempts) AS attempts, SUM(CASE WHEN delivered_at IS NULL THEN 1 ELSE 0 END) AS undelivered FROM outbox WHERE kind = 'webhook' AND subject = ?`).get(dead.id);
  const firstEvent = db.prepare('SELECT MIN(created_at) AS t FROM webhook_events').get().t;
  db.close();
  const lags = live.flatMap((e) => e.got.map((g) => g.at - g.eventAt)).sort((a, b) => a - b);
  const received = live.reduce((n, e) => n + e.got.length, 0);
  const unique = live.reduce((n, e) => n + new Set(e.got.map((g) => g.id)).size, 0);
  const span = (end - firstEvent) / 1000;
  const result = {
    orders: N,
    eventsPerEndpoint: 2 * N,
    liveEndpoints: 2,
    seconds: round(span, 2),
    eventsPerSecond: round(unique / span, 1),
    lagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: lags.at(-1) },
    receivedTwice: received - unique,
    badSignatures: live.reduce((n, e) => n + e.bad(), 0),
    third,
    thirdEndpoint: { messages: Number(deadRow.messages), attempts: Number(deadRow.attempts), undelivered: Number(deadRow.undelivered), received: slow ? slow.got.length : 0 },
    serveCpuMsPerEvent: round((cpu * 1000) / (2 * unique), 3),
    cores: os.cpus().length,
  };
  const checks = {
    everyEventDelivered: unique === 2 * 2 * N,
    signaturesVerify: result.badSignatures === 0,
    thirdEndpointBehind: result.thirdEndpoint.undelivered > 0 && (third === 'dead' ? result.thirdEndpoint.attempts >= 1 : result.thirdEndpoint.received >= 1),
  };
  console.log(`webhooks: ${N} orders, ${2 * N} events to each of 2 live endpoints and 1 ${third} one (${result.cores} cores)`);
  console.log(`  delivered ${unique} events in ${result.seconds} s = ${result.eventsPerSecond} events/s; lag p50 ${result.lagMs.p50} ms, p99 ${result.lagMs.p99} ms, max ${result.lagMs.max} ms; received twice ${result.receivedTwice}`);
  const t3 = result.thirdEndpoint;
  if (third === 'dead') console.log(`  dead endpoint: ${t3.messages} events, ${t3.attempts} failed attempts, ${t3.undelivered} waiting for their next attempt`);
  else console.log(`  slow endpoint (${SLOW_MS} ms per answer): ${t3.messages} events, ${t3.received} received, ${t3.undelivered} still waiting when the live ones had everything`);
  console.log(`  CPU of serve: ${result.serveCpuMsPerEvent} ms per event delivered (the orders' own work included)`);
  console.log(`  checks: ${Object.entries(checks).map(([k, v]) => `${k} ${v ? 'ok' : 'FAILED'}`).join(', ')}`);
  for (const e of live) await e.close();
  await stopChild(children, server.child, 10_000);
  await slow?.close();
  return { result, checks };
}

async function main() {
  const thirds = args.third === 'dead' || args.third === 'slow' ? [args.third] : ['dead', 'slow'];
  const runs = {};
  for (const third of thirds) runs[third] = await run(third);
  if (runs.dead && runs.slow) {
    const [d, s] = [runs.dead.result, runs.slow.result];
    console.log(`slow third endpoint vs dead one (baseline), live endpoints: events/s ×${round(s.eventsPerSecond / d.eventsPerSecond, 2)}, lag p50 ×${round(s.lagMs.p50 / Math.max(1, d.lagMs.p50), 2)}, p99 ×${round(s.lagMs.p99 / Math.max(1, d.lagMs.p99), 2)}`);
  }
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify({ at: new Date().toISOString(), runs }, null, 2)}\n`);
  console.log(`results: ${OUT}`);
  process.exitCode = Object.values(runs).every((r) => Object.values(r.checks).every(Boolean)) ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 2;
});
