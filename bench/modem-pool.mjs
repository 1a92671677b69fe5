#!/usr/bin/env node
/**
 * Modem pool benchmark: a real `shahn serve` drives fake GSM modems over real pseudo-terminal pairs.
 *
 *   npm run build && node bench/modem-pool.mjs [--orders N] [--sims S] [--latency MIN,MAX]
 *                                              [--concurrency C] [--no-baseline] [--quick] [--out FILE]
 *
 * S fake SIMs (default 8, this process, socat pty pairs) answer every top-up code after MIN–MAX ms
 * (default 5,000–12,000: a realistic USSD round trip). `shahn serve` (a child, SQLite, processor
 * concurrency C, default 64 as in `serve`) routes Djezzy to a modem gateway over those S SIMs; N production
 * orders (default 1,000, each to its own number, 100 DZD) are sent through the API at once.
 *
 * The baseline, in the same run and at the same time: a second `shahn serve` whose operator
 * simulator answers after the same MIN–MAX ms with S calls at once (SHAHN_PROCESSOR_CONCURRENCY=S):
 * what S perfectly used lines do, and the CPU of a gateway that does nothing but wait.
 *
 * Measured: all orders final; how many codes each number received (zero dialled twice is a check);
 * the ledger checked (checkMoney); orders per minute and its ratio to the baseline; SIM utilisation
 * (time each SIM was held by orders ÷ the run, from the pool's published states); CPU seconds of
 * each serve process per order, and the difference (what driving the modems costs over the
 * simulator); claims per order (an order that waited too long for a free SIM goes back to PENDING
 * and is claimed again: with C well above S, orders go round); the CPU of this process (the fake modems).
 *
 * About 18 minutes with the defaults (1,000 × 8.5 s ÷ 8). --quick: 120 orders at 500–1,200 ms
 * (about 15 s). Results: bench/results/modem-pool.json (--out). Exit 0 = ran and all checks passed,
 * 1 = a check failed, 2 = the run broke (socat missing, a process did not start).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { benchArgs, dist, envWithoutShahn, intArg, killChildrenNow, procCpu, ROOT, round, sleep, startServeChild, stopChild, sysCpu } from './lib.mjs';

const args = benchArgs(import.meta.url, {
  orders: { type: 'string' },
  sims: { type: 'string' },
  latency: { type: 'string' },
  concurrency: { type: 'string' },
  'no-baseline': { type: 'boolean' },
  quick: { type: 'boolean' },
  out: { type: 'string' },
});
const N = intArg(args, 'orders', 1, 100_000, args.quick ? 120 : 1_000);
const SIMS = intArg(args, 'sims', 1, 64, 8);
const [LAT_MIN, LAT_MAX] = (args.latency ?? (args.quick ? '500,1200' : '5000,12000')).split(',').map(Number);
if (!(LAT_MIN >= 0 && LAT_MAX >= LAT_MIN)) {
  console.error('--latency must be MIN,MAX in ms');
  process.exit(2);
}
const BASELINE = !args['no-baseline'];
const CONCURRENCY = intArg(args, 'concurrency', 1, 100_000, 64);
const OUT = args.out ?? join(ROOT, 'bench', 'results', 'modem-pool.json');
const PIN = '4321';
const AMOUNT = 100;

const [{ openPtyPair, hasSocat }, { FakeModem }, { openSqliteStore }] = await Promise.all([
  dist('gateways/modem/pty-pair.js'),
  dist('gateways/modem/fake-modem.js'),
  dist('store/sqlite/open-sqlite-store.js'),
]);
if (!hasSocat()) {
  console.error('socat is not installed: run scripts/ensure-debian-packages.sh socat');
  process.exit(2);
}

const children = new Set();
const pairs = [];
const modems = [];
process.on('exit', () => killChildrenNow(children));
const log = (m) => process.stderr.write(`[modem-pool] ${m}\n`);
const cli = (cliArgs, env) => execFileSync(process.execPath, [join(ROOT, 'bin', 'shahn.js'), ...cliArgs], { env: { ...envWithoutShahn(), ...env }, encoding: 'utf8' });
const number = (i) => `077${String(i).padStart(7, '0')}`;

async function sendAll(url, key) {
  let next = 0;
  const failures = [];
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const res = await fetch(`${url}/v3/mobile/send`, {
        method: 'POST',
        headers: { 'x-access-token': key, 'content-type': 'application/json' },
        body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: number(i), amount: AMOUNT, ref: `bench-${i}` }),
      });
      const body = await res.json();
      if (!body.success) failures.push(body.error?.code ?? res.status);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return failures;
}

/** A serve child on its own store, its merchant created first; returns what the run needs of it. */
async function startServer(name, extraEnv) {
  const dir = mkdtempSync(join(os.tmpdir(), `shahn-modem-bench-${name}-`));
  const env = { SHAHN_DB: join(dir, 'shahn.db'), SHAHN_LOG_LEVEL: 'warn', ...extraEnv };
  const merchant = JSON.parse(cli(['merchant', 'create', '--username', '+213550000009', '--balance', '100000000', '--json'], env));
  const server = await startServeChild(ROOT, env, children, 60_000);
  return { name, dir, db: env.SHAHN_DB, key: merchant.productionKey, ...server };
}

function statuses(db) {
  return db.prepare(`SELECT status, COUNT(*) AS n FROM orders WHERE env = 'PRODUCTION' GROUP BY status`).all().reduce((a, r) => ({ ...a, [r.status]: r.n }), {});
}

async function main() {
  const dir = mkdtempSync(join(os.tmpdir(), 'shahn-modem-bench-'));
  log(`${SIMS} fake SIMs at ${LAT_MIN}–${LAT_MAX} ms per answer; ${N} orders${BASELINE ? ', and the simulator baseline at the same latency' : ''}`);
  const sims = [];
  for (let i = 1; i <= SIMS; i++) {
    const pair = await openPtyPair(join(dir, `dj-${i}`), join(dir, `dj-${i}.modem`));
    pairs.push(pair);
    modems.push(await FakeModem.open({ device: pair.modemEnd, pin: PIN, balance: 10_000_000, latencyMs: [LAT_MIN, LAT_MAX], profile: 'success' }));
    sims.push({ name: `dj-${i}`, device: pair.gatewayEnd, operator: 'Djezzy', pinEnv: 'BENCH_SIM_PIN' });
  }
  const gatewaysFile = join(dir, 'gateways.json');
  writeFileSync(
    gatewaysFile,
    JSON.stringify({
      gateways: {
        pool: {
          type: 'modem',
          operators: { Djezzy: { send: '*770*{msisdn}*{amount}*{pin}#', balance: '*710#', ussdTimeoutMs: 30_000, rules: [{ match: '^Succes', outcome: 'FULFILLED' }, { match: '^Echec', outcome: 'REFUNDED' }] } },
          sims,
        },
        simulator: { type: 'simulator' },
      },
      routes: [{ operator: 'Djezzy', plan: 'FACTURE_DJEZZY', gateway: 'simulator' }, { operator: 'Djezzy', gateway: 'pool' }, { operator: '*', gateway: 'simulator' }],
    }),
  );
  const simulatorFile = join(dir, 'simulator.json');
  writeFileSync(simulatorFile, JSON.stringify({ defaults: { latencyMs: { min: LAT_MIN, max: LAT_MAX }, rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } } }));

  const servers = [await startServer('modem', { SHAHN_GATEWAYS: gatewaysFile, BENCH_SIM_PIN: PIN, SHAHN_PROCESSOR_CONCURRENCY: String(CONCURRENCY) })];
  if (BASELINE) servers.push(await startServer('baseline', { SHAHN_SIMULATOR_CONFIG: simulatorFile, SHAHN_PROCESSOR_CONCURRENCY: String(SIMS) }));
  const { default: Database } = await import('better-sqlite3');
  for (const s of servers) s.read = new Database(s.db, { readonly: true, fileMustExist: true });

  const cpu0 = new Map(servers.map((s) => [s.name, procCpu(s.child.pid)]));
  const me0 = process.cpuUsage();
  const sys0 = sysCpu();
  const t0 = Date.now();
  const sendFailures = {};
  await Promise.all(servers.map(async (s) => (sendFailures[s.name] = await sendAll(s.url, s.key))));
  log(`sent ${N} orders to each server in ${Date.now() - t0} ms`);

  const expectedS = (N * ((LAT_MIN + LAT_MAX) / 2)) / SIMS / 1000;
  const deadline = Date.now() + Math.max(120_000, expectedS * 3_000);
  let last = 0;
  for (;;) {
    const st = servers.map((s) => [s.name, statuses(s.read)]);
    const open = st.reduce((a, [, c]) => a + (c.PENDING ?? 0) + (c.HANDLING ?? 0), 0);
    if (Date.now() - last > 30_000) {
      last = Date.now();
      log(`${Math.round((Date.now() - t0) / 1000)} s: ${st.map(([n, c]) => `${n} ${JSON.stringify(c)}`).join('; ')}`);
    }
    if (open === 0) break;
    if (Date.now() > deadline) {
      log('deadline passed with orders still open');
      break;
    }
    await sleep(1_000);
  }
  const wallS = (Date.now() - t0) / 1000;
  const me = process.cpuUsage(me0);
  const sys1 = sysCpu();

  const results = {};
  for (const s of servers) {
    const cpuS = procCpu(s.child.pid) - cpu0.get(s.name);
    const span = s.read.prepare(`SELECT MIN(created_at) AS first, MAX(final_at) AS last FROM orders WHERE env = 'PRODUCTION'`).get();
    const spanS = (span.last - span.first) / 1000;
    // Claims per order: an order that waited too long for a free SIM went back to PENDING and was claimed again.
    const claims = s.read.prepare(`SELECT AVG(attempts) AS mean, MAX(attempts) AS max FROM orders WHERE env = 'PRODUCTION'`).get();
    results[s.name] = {
      statuses: statuses(s.read), sendFailures: sendFailures[s.name].length, spanS: round(spanS, 1), ordersPerMin: round((N / spanS) * 60, 1),
      cpuS: round(cpuS, 2), cpuMsPerOrder: round((cpuS * 1000) / N, 3), claimsPerOrder: { mean: round(claims.mean, 2), max: claims.max },
    };
    if (s.name === 'modem') {
      const channels = s.read.prepare(`SELECT channel, status FROM gateway_channels ORDER BY channel`).all().map((r) => ({ sim: r.channel, ...JSON.parse(r.status) }));
      results.modem.sims = channels.map((c) => ({ sim: c.sim, dials: c.dials, busyS: round(c.busyMs / 1000, 1), utilisation: round(c.busyMs / 1000 / spanS, 3) }));
      results.modem.utilisation = round(channels.reduce((a, c) => a + c.busyMs, 0) / 1000 / spanS / SIMS, 3);
    }
  }
  // The fake modems' count: every number dialled once.
  const perNumber = new Map();
  for (const m of modems) for (const d of m.dials) perNumber.set(d.msisdn, (perNumber.get(d.msisdn) ?? 0) + 1);
  const dialledTwice = [...perNumber.values()].filter((n) => n > 1).length;
  const dials = [...perNumber.values()].reduce((a, b) => a + b, 0);

  for (const s of servers) await stopChild(children, s.child, 10_000);
  const money = {};
  for (const s of servers) {
    s.read.close();
    const store = openSqliteStore(s.db);
    money[s.name] = (await store.ledger.checkMoney()).length;
    await store.close();
  }
  for (const m of modems) await m.close();
  for (const p of pairs) await p.close();

  const m = results.modem;
  const b = results.baseline;
  const checks = {
    allFinal: Object.values(results).every((r) => (r.statuses.PENDING ?? 0) + (r.statuses.HANDLING ?? 0) === 0),
    allFulfilled: m.statuses.FULFILLED === N,
    zeroDialledTwice: dialledTwice === 0,
    oneDialPerOrder: dials === N && perNumber.size === N,
    sendsAccepted: Object.values(results).every((r) => r.sendFailures === 0),
    ledgerChecked: Object.values(money).every((n) => n === 0),
  };
  const report = {
    config: { orders: N, sims: SIMS, latencyMs: [LAT_MIN, LAT_MAX], amount: AMOUNT, processorConcurrency: CONCURRENCY, baselineConcurrency: SIMS, cores: os.cpus().length },
    wallS: round(wallS, 1),
    modem: m,
    ...(b ? { baseline: b, ratios: { ordersPerMin: round(m.ordersPerMin / b.ordersPerMin, 3), cpuPerOrder: round(m.cpuMsPerOrder / b.cpuMsPerOrder, 2) }, gatewayCpuMsPerOrder: round(m.cpuMsPerOrder - b.cpuMsPerOrder, 3) } : {}),
    dials: { total: dials, numbers: perNumber.size, dialledTwice },
    fakeModemsCpuS: round((me.user + me.system) / 1e6, 2),
    machineBusyCores: sys0 && sys1 ? round(((sys1.busy - sys0.busy) / (sys1.total - sys0.total)) * os.cpus().length, 2) : null,
    idealOrdersPerMin: round((SIMS * 60_000) / ((LAT_MIN + LAT_MAX) / 2), 1),
    checks,
    ok: Object.values(checks).every(Boolean),
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);

  const lines = [
    `modem-pool: ${N} orders, ${SIMS} fake SIMs at ${LAT_MIN}–${LAT_MAX} ms per USSD answer (${report.config.cores} cores)`,
    `  modem gateway: ${m.ordersPerMin} orders/min over ${m.spanS} s (ideal for ${SIMS} SIMs at the mean latency: ${report.idealOrdersPerMin}); SIM utilisation ${m.utilisation}`,
    `                 statuses ${JSON.stringify(m.statuses)}; CPU of serve ${m.cpuS} s = ${m.cpuMsPerOrder} ms per order; claims per order ${m.claimsPerOrder.mean} (max ${m.claimsPerOrder.max})`,
    ...(b
      ? [
          `  baseline (simulator, ${SIMS} at once): ${b.ordersPerMin} orders/min over ${b.spanS} s; CPU of serve ${b.cpuS} s = ${b.cpuMsPerOrder} ms per order`,
          `  ratios: orders/min ${report.ratios.ordersPerMin}× the baseline; CPU per order ${report.ratios.cpuPerOrder}× (driving the modems costs ${report.gatewayCpuMsPerOrder} ms of CPU per order over the simulator)`,
        ]
      : []),
    `  codes received by the fake modems: ${dials} for ${perNumber.size} numbers, ${dialledTwice} dialled twice; fake modems' CPU ${report.fakeModemsCpuS} s`,
    `  per SIM: ${m.sims.map((s) => `${s.sim} ${s.dials} orders ${s.utilisation}`).join(', ')}`,
    `  checks: ${Object.entries(checks).map(([k, v]) => `${k} ${v ? 'ok' : 'FAILED'}`).join(', ')}`,
    `  results: ${OUT}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    killChildrenNow(children);
    process.exit(2);
  },
);
