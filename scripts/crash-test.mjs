#!/usr/bin/env node
// Crash test: run `shahn serve` under load with the operator simulator, kill it with SIGKILL at
// random moments, restart it, and check that nothing was lost or done twice:
//   acknowledged orders lost, orders sent to the operator twice, uncertain orders refunded without a
//   decision, balances not equal to their ledger — each must be 0.
// Usage: node scripts/crash-test.mjs [--kills 20] [--min-ms 300] [--max-ms 2500] [--senders 8] [--seed 1] [--db PATH-OR-URL] [--json]
// --db: the store (default: a new SQLite file in a temp folder); a postgres:// URL must name an
// empty, migrated database (`shahn migrate`). Needs the build (npm install / npm run build).
// Traffic goes to 127.0.0.1 only.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shahn.js');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const KILLS = Number(opt('kills', '20'));
const MIN_MS = Number(opt('min-ms', '300'));
const MAX_MS = Number(opt('max-ms', '2500'));
const SENDERS = Number(opt('senders', '8'));
const SEED = Number(opt('seed', String(Date.now() % 100000)));
const JSON_OUT = args.includes('--json');
const log = (...m) => { if (!JSON_OUT) console.log(...m); };

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  console.error('crash-test: build first (npm install or npm run build)');
  process.exit(2);
}
const { openStore } = await import(join(ROOT, 'dist', 'runtime', 'open-store.js'));
const { loadConfig } = await import(join(ROOT, 'dist', 'config.js'));

let rnd = SEED >>> 0;
const random = () => {
  rnd = (rnd + 0x6d2b79f5) >>> 0;
  let t = rnd;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'shahn-crash-'));
const db = opt('db', join(dir, 'shahn.db'));
const callLog = join(dir, 'calls.log');
const simConfig = join(dir, 'simulator.json');
writeFileSync(
  simConfig,
  JSON.stringify({
    seed: SEED,
    defaults: { latencyMs: { min: 20, max: 400 }, rates: { fulfilled: 6, wrongNumber: 1, planMismatch: 1, garbled: 1, timeout: 1 } },
  }),
);
writeFileSync(callLog, '');

const created = spawnSync(process.execPath, [BIN, 'merchant', 'create', '--username', '+213661234567', '--balance', '100000000', '--json'], {
  env: { ...process.env, SHAHN_DB: db, SHAHN_LOG_LEVEL: 'error' },
  encoding: 'utf8',
});
if (created.status !== 0) {
  console.error(created.stderr);
  process.exit(2);
}
const merchant = JSON.parse(created.stdout);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const serveEnv = {
  ...process.env,
  SHAHN_DB: db,
  PORT: String(port),
  SHAHN_DEMO: 'false',
  SHAHN_RATE_LIMIT: '0',
  SHAHN_LOG_LEVEL: 'error',
  SHAHN_ACCESS_LOG: 'false',
  SHAHN_SIMULATOR_CONFIG: simConfig,
  SHAHN_SIMULATOR_CALL_LOG: callLog,
  SHAHN_GATEWAY_TIMEOUT_MS: '1500',
  SHAHN_LEASE_MS: '2500',
  SHAHN_RECOVERY_EVERY_MS: '500',
  SHAHN_PROCESSOR_POLL_MS: '50',
};

async function startServe() {
  const child = spawn(process.execPath, [BIN, 'serve'], { env: serveEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${err}`);
    try {
      const r = await fetch(`${base}/v3/ping`, { signal: AbortSignal.timeout(500) });
      if (r.ok) return child;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`serve did not start: ${err}`);
    await sleep(50);
  }
}

const acknowledged = new Map(); // topupId → ref
let sent = 0;
let refSeq = 0;
async function sender(stopAt) {
  while (Date.now() < stopAt.value) {
    const ref = `crash-${SEED}-${refSeq++}`;
    const amount = 100 + Math.floor(random() * 3900);
    sent++;
    try {
      const r = await fetch(`${base}/v3/mobile/send`, {
        method: 'POST',
        headers: { 'X-Access-Token': merchant.productionKey, 'Content-Type': 'application/json' },
        body: JSON.stringify({ plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: Math.min(amount, 3999), ref }),
        signal: AbortSignal.timeout(3000),
      });
      const body = await r.json();
      if (r.status === 200 && body.success) acknowledged.set(body.data.topupId, ref);
    } catch {
      await sleep(20); // the server is down: not acknowledged
    }
  }
}

const t0 = Date.now();
for (let k = 0; k < KILLS; k++) {
  const child = await startServe();
  const stopAt = { value: Infinity };
  const senders = Array.from({ length: SENDERS }, () => sender(stopAt));
  await sleep(MIN_MS + random() * (MAX_MS - MIN_MS));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  stopAt.value = 0;
  await Promise.all(senders);
  log(`kill ${k + 1}/${KILLS}: ${acknowledged.size} orders acknowledged so far`);
}

// Restart once more and let recovery and the processor settle everything.
const final = await startServe();
const store = openStore(loadConfig({ SHAHN_DB: db }));
let open = -1;
const settleDeadline = Date.now() + 90_000;
while (Date.now() < settleDeadline) {
  const orders = (await store.orders.listOrders(merchant.id, 'PRODUCTION', { offset: 0, limit: 10_000_000 })).items;
  open = orders.filter((o) => o.status === 'PENDING' || o.status === 'HANDLING').length;
  if (open === 0) break;
  await sleep(250);
}
final.kill('SIGTERM');
await new Promise((r) => final.once('exit', r));

const orders = (await store.orders.listOrders(merchant.id, 'PRODUCTION', { offset: 0, limit: 10_000_000 })).items;
const byId = new Map(orders.map((o) => [o.id, o]));
const calls = new Map();
const refundAnswers = new Set();
for (const line of readFileSync(callLog, 'utf8').split('\n')) {
  const [kind, id, outcome] = line.split(' ');
  if (kind === 'call') calls.set(id, (calls.get(id) ?? 0) + 1);
  if (kind === 'answer' && outcome === 'REFUNDED') refundAnswers.add(id);
}
const lost = [...acknowledged.keys()].filter((id) => !byId.has(id));
const sentTwice = [...calls].filter(([, n]) => n > 1).map(([id]) => id);
const refundedWithoutDecision = orders.filter((o) => o.status === 'REFUNDED' && !refundAnswers.has(o.id)).map((o) => o.id);
const money = await store.ledger.checkMoney();
await store.close();

const statuses = {};
for (const o of orders) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
const result = {
  seed: SEED,
  kills: KILLS,
  seconds: Math.round((Date.now() - t0) / 1000),
  sendAttempts: sent,
  acknowledged: acknowledged.size,
  ordersInStore: orders.length,
  operatorCalls: [...calls.values()].reduce((a, b) => a + b, 0),
  statuses,
  stillOpen: open,
  acknowledgedLost: lost.length,
  sentTwice: sentTwice.length,
  uncertainRefundedWithoutDecision: refundedWithoutDecision.length,
  balancesNotEqualToLedger: money.length,
};
const ok = result.acknowledgedLost === 0 && result.sentTwice === 0 && result.uncertainRefundedWithoutDecision === 0 && result.balancesNotEqualToLedger === 0 && result.stillOpen === 0;
if (JSON_OUT) console.log(JSON.stringify({ ...result, ok }));
else {
  console.log('');
  console.log(`crash test: ${KILLS} SIGKILLs in ${result.seconds} s (seed ${SEED})`);
  console.log(`  send attempts ${sent}, acknowledged ${acknowledged.size}, orders in store ${orders.length}, operator calls ${result.operatorCalls}`);
  console.log(`  final statuses ${JSON.stringify(statuses)}`);
  console.log(`  acknowledged orders lost:                    ${result.acknowledgedLost}`);
  console.log(`  orders sent to the operator twice:           ${result.sentTwice}`);
  console.log(`  uncertain orders refunded without decision:  ${result.uncertainRefundedWithoutDecision}`);
  console.log(`  balances not equal to their ledger:          ${result.balancesNotEqualToLedger}`);
  console.log(`  orders still open after settling:            ${result.stillOpen}`);
  console.log(ok ? 'PASS' : 'FAIL');
  if (!ok) console.log({ lost: lost.slice(0, 10), sentTwice: sentTwice.slice(0, 10), refundedWithoutDecision: refundedWithoutDecision.slice(0, 10), money: money.slice(0, 10) });
}
rmSync(dir, { recursive: true, force: true });
process.exit(ok ? 0 : 1);
