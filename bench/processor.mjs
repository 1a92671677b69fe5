#!/usr/bin/env node
/**
 * Order processor benchmark.
 *
 *   npm run build && node bench/processor.mjs [--orders N] [--concurrency C] [--rounds R]
 *                                             [--inflight N] [--inflight-concurrency C] [--backlog N]
 *                                             [--latency MIN,MAX] [--window S] [--baseline-window S]
 *                                             [--merchants M] [--only throughput,inflight]
 *                                             [--quiet-wait S] [--cpu-prof] [--quick]
 *
 * 1. Throughput at zero latency. N production orders are queued through the real send path
 *    (sendTopup with a production key record: a FLEXY ledger charge per order), then an OrderProcessor
 *    (concurrency C) with the OperatorSimulator at latency 0 (default outcome rates, timeout weight 0)
 *    drains them: claim → call started → gateway → outcome + ledger in one transaction. The baseline,
 *    on an identically prepared store, is the same store transactions in a tight loop without the
 *    processor (claimOrders(limit C), then markCallStarted + recordOutcome per order, same outcome
 *    mix). Each runs in its own child process; with --rounds R they alternate and medians are taken
 *    (the ratio is paired within a round). After the drain: checkMoney() must be [], every order final,
 *    no order sent twice.
 * 2. Orders in flight at realistic latency. --inflight N orders (default 10,000), processor concurrency
 *    N, simulator latency 5–30 s (default; timeout weight 0 so the total is bounded by the latency),
 *    gatewayTimeoutMs 60 000, leaseMs 120 000. Measured: an idle baseline window before start (CPU,
 *    event-loop delay, memory after GC), the start-up burst (claim + N markCallStarted), memory after
 *    GC once all N are HANDLING, CPU/event-loop delay over a --window S window from then, and the time
 *    until all N are final. --backlog B adds B more queued orders than the processor can hold (a
 *    saturated processor; not part of the default run).
 *
 * Other flags: --inflight-concurrency C (default N; above N the processor never fills up), --latency
 * MIN,MAX ms, --merchants M (default 8), --only throughput|inflight, --quiet-wait S (wait up to S s,
 * default 15, for the machine to go quiet before each child), --cpu-prof (profiles of every child in
 * bench/results/cpuprof-processor/, with a self-time summary), --quick (smoke run: 2,000 orders,
 * 1 round, 1,000 in flight at 0.5–3 s, 2 s window; about 10 s).
 *
 * Prints a table and writes bench/results/processor.json (--out FILE to change). Exit code 0 = ran and all checks passed,
 * 1 = a check failed (money, finality, duplicate calls), 2 = the run broke.
 *
 * Event-loop delay: a 10 ms interval timer; figures are how late its ticks were (beyond the 10 ms),
 * so a loop blocked for B ms shows a max of about B ms.
 * CPU: process.cpuUsage (user + system, all threads of the process). "noise": cores busy outside
 * the measured process during the interval (from /proc/stat), to judge a run on a shared machine.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHistogram, performance, PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CLK_TCK, ROOT, intArg, median, round, sleep, sysCpu } from './lib.mjs';

const RESULTS_DIR = join(ROOT, 'bench', 'results');
const SELF = fileURLToPath(import.meta.url);
const ELD_RESOLUTION_MS = 10;
const OWNER = 'bench-worker';
const BALANCE_DZD = 1_000_000_000;
const AMOUNT_DZD = 100;
/** Non-menu plans of the default catalogue, one per operator, with a matching number prefix. */
const PLANS = [
  { code: 'PREPAID_MOBILIS', prefix: '06', facture: 'FACTURE_MOBILIS' },
  { code: 'PREPAID_DJEZZY', prefix: '07', facture: 'FACTURE_DJEZZY' },
  { code: 'PREPAID_OOREDOO', prefix: '05', facture: 'FACTURE_OOREDOO' },
];

// ---------------------------------------------------------------- small helpers

const MiB = (b) => b / 1024 / 1024;

/** Start measuring wall time, this process's CPU and the machine's other CPU use; call the result to stop. */
function meter() {
  const t = performance.now();
  const c = process.cpuUsage();
  const s = sysCpu();
  return () => {
    const wall = (performance.now() - t) / 1000;
    const cu = process.cpuUsage(c);
    const cpu = (cu.user + cu.system) / 1e6;
    const s1 = sysCpu();
    const noise = s && s1 && wall > 0 ? Math.max(0, ((s1.busy - s.busy) / CLK_TCK - cpu) / wall) : null;
    return { t0: t, t1: performance.now(), wallS: wall, cpuS: cpu, cpuUserS: cu.user / 1e6, cpuSysS: cu.system / 1e6, cores: wall > 0 ? cpu / wall : null, noiseCores: noise };
  };
}

/**
 * Event-loop delay: a 10 ms interval timer records how late each tick is (beyond the 10 ms) into a
 * perf_hooks histogram. (monitorEventLoopDelay is not used: after reset() it drops the first sample, so
 * a loop that is blocked right after a reset is not seen at all.)
 */
function eldMonitor() {
  let h = createHistogram();
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    h.record(Math.max(1, Math.round((now - last - ELD_RESOLUTION_MS) * 1e6)));
    last = now;
  }, ELD_RESOLUTION_MS);
  return {
    reset() {
      h = createHistogram();
    },
    get histogram() {
      return h;
    },
    disable() {
      clearInterval(timer);
    },
  };
}

/** Garbage collections (from a PerformanceObserver, child processes only), to attribute pauses and CPU. */
const gcEntries = [];
function observeGc() {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (gcEntries.length < 200_000) gcEntries.push({ start: e.startTime, ms: e.duration, major: e.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR });
    }
  }).observe({ entryTypes: ['gc'] });
}
/** Add the GC time inside a meter's interval (call after a turn of the loop, so that the entries have arrived). */
function withGc(r) {
  let ms = 0, majorMs = 0, count = 0, maxMs = 0;
  for (const e of gcEntries) {
    if (e.start < r.t0 || e.start > r.t1) continue;
    count++;
    ms += e.ms;
    if (e.major) majorMs += e.ms;
    maxMs = Math.max(maxMs, e.ms);
  }
  return { ...r, gc: { count, ms, majorMs, maxMs } };
}

function eldStats(m) {
  const h = m.histogram;
  const ms = (ns) => ns / 1e6;
  if (h.count === 0) return { samples: 0, p50Ms: null, p99Ms: null, maxMs: null };
  return { samples: h.count, p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
}

let gcFn = globalThis.gc;
function gc() {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc');
  }
  gcFn();
  gcFn();
}

function mem() {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

// ---------------------------------------------------------------- arguments

const { values: args } = parseArgs({
  options: {
    orders: { type: 'string' },
    concurrency: { type: 'string' },
    rounds: { type: 'string' },
    inflight: { type: 'string' },
    'inflight-concurrency': { type: 'string' },
    backlog: { type: 'string' },
    latency: { type: 'string' },
    window: { type: 'string' },
    'baseline-window': { type: 'string' },
    merchants: { type: 'string' },
    only: { type: 'string' },
    'quiet-wait': { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    child: { type: 'string' },
    opts: { type: 'string' },
    result: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  process.stdout.write(readFileSync(SELF, 'utf8').split('\n').slice(1, 46).filter((l) => l.startsWith(' *')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}

// ================================================================ child side

async function importDist() {
  const [storeMod, openDeps, createMerchantMod, sendMod, simMod, procMod, configMod, idsMod, moneyMod, messagesMod, pinoMod, sqliteMod] =
    await Promise.all([
      import('../dist/store/sqlite/open-sqlite-store.js'),
      import('../dist/runtime/open-store.js'),
      import('../dist/domain/create-merchant.js'),
      import('../dist/domain/send-topup.js'),
      import('../dist/gateways/operator-simulator.js'),
      import('../dist/processor/order-processor.js'),
      import('../dist/config.js'),
      import('../dist/lib/ids.js'),
      import('../dist/lib/money.js'),
      import('@shahn/contract'),
      import('pino'),
      import('better-sqlite3'),
    ]);
  return {
    ...storeMod, ...openDeps, ...createMerchantMod, ...sendMod, ...simMod, ...procMod, ...configMod, ...idsMod, ...moneyMod, ...messagesMod,
    pino: pinoMod.default, Database: sqliteMod.default,
  };
}

/** A fresh temp store with M merchants (big balances) and N PENDING production orders queued through sendTopup. */
async function prepare(d, { orders, merchants }) {
  const tmpDir = mkdtempSync(join(os.tmpdir(), 'shahn-procbench-'));
  const dbPath = join(tmpDir, 'shahn.db');
  const config = d.loadConfig({ SHAHN_LOG_LEVEL: 'silent' }, { db: dbPath });
  const store = d.openSqliteStore(dbPath);
  await d.prepareStore(store);
  const deps = d.buildDeps(config, store);
  const keys = [];
  for (let i = 0; i < merchants; i++) {
    const m = await d.createMerchant(deps, { username: `+21355${String(i).padStart(7, '0')}`, balance: BALANCE_DZD });
    const key = await store.accounts.findKeyByHash(d.hashApiKey(m.productionKey));
    if (!key || key.type !== 'PRODUCTION') throw new Error('production key record not found');
    keys.push(key);
  }
  const stop = meter();
  for (let i = 0; i < orders; i++) {
    const plan = PLANS[i % PLANS.length];
    await d.sendTopup(deps, {
      key: keys[i % keys.length],
      body: { plan_code: plan.code, MSSIDN: plan.prefix + String(i % 1e8).padStart(8, '0'), amount: AMOUNT_DZD, ref: `bench-${i}` },
    });
  }
  const insert = stop();
  return { tmpDir, dbPath, store, deps, insert: { ...insert, perSec: orders / insert.wallS } };
}

/** After a run: money invariants, statuses, duplicate calls. */
async function verify(d, ctx, expected, sim) {
  const violations = await ctx.store.ledger.checkMoney();
  const ro = new d.Database(ctx.dbPath, { readonly: true });
  const statuses = Object.fromEntries(
    ro.prepare(`SELECT status, COUNT(*) AS n FROM orders WHERE env = 'PRODUCTION' GROUP BY status`).all().map((r) => [r.status, r.n]),
  );
  const ledger = Object.fromEntries(ro.prepare(`SELECT type, COUNT(*) AS n FROM ledger_entries GROUP BY type`).all().map((r) => [r.type, r.n]));
  const alerts = ro.prepare('SELECT COUNT(*) AS n FROM alerts').get().n;
  ro.close();
  const final = (statuses.FULFILLED ?? 0) + (statuses.REFUNDED ?? 0) + (statuses.UNKNOWN_ERROR ?? 0);
  const duplicates = sim ? sim.duplicateCalls().length : 0;
  const calls = sim ? sim.totalCalls() : null;
  const ok = violations.length === 0 && final === expected && duplicates === 0 && (calls === null || calls === expected);
  return { ok, checkMoney: violations.slice(0, 10), checkMoneyCount: violations.length, expected, final, statuses, ledger, alerts, calls, duplicates };
}

/** Wrap the store: count calls started and outcomes applied (one extra .then per call; the processor sees the same API). */
function countingStore(store, targets) {
  const c = { started: 0, recorded: 0, firstRecordedAt: null, startedAllAt: null, recordedAllAt: null };
  let resolveStarted, resolveRecorded;
  c.allStarted = new Promise((r) => (resolveStarted = r));
  c.allRecorded = new Promise((r) => (resolveRecorded = r));
  // The SQLite store runs each call synchronously inside its async method: time the synchronous part.
  c.slow = { claimOrders: { n: 0, maxMs: 0, over20ms: 0 }, markCallStarted: { n: 0, maxMs: 0, over20ms: 0 }, recordOutcome: { n: 0, maxMs: 0, over20ms: 0 } };
  const timed = (name, call) => {
    const t = performance.now();
    const p = call();
    const ms = performance.now() - t;
    const sl = c.slow[name];
    sl.n++;
    if (ms > sl.maxMs) sl.maxMs = ms;
    if (ms > 20) sl.over20ms++;
    return p;
  };
  const wrapped = {
    ...store,
    claimOrders: (input) => timed('claimOrders', () => store.processing.claimOrders(input)),
    markCallStarted: (input) =>
      timed('markCallStarted', () => store.processing.markCallStarted(input)).then((ok) => {
        if (ok && ++c.started === targets.started) {
          c.startedAllAt = performance.now();
          resolveStarted();
        }
        return ok;
      }),
    recordOutcome: (input) =>
      timed('recordOutcome', () => store.processing.recordOutcome(input)).then((r) => {
        if (r === 'applied' && input.outcome.status !== 'PENDING') {
          if (c.recorded === 0) c.firstRecordedAt = performance.now();
          if (++c.recorded === targets.recorded) {
            c.recordedAllAt = performance.now();
            resolveRecorded();
          }
        }
        return r;
      }),
  };
  return { store: wrapped, counters: c };
}

function simConfig(d, latencyMs) {
  return d.mergeSimulatorConfig(d.defaultSimulatorConfig(), { defaults: { latencyMs, rates: { timeout: 0 } } });
}

function processorOptions(d, concurrency) {
  return {
    owner: OWNER,
    concurrency,
    leaseMs: 120_000,
    gatewayTimeoutMs: 60_000,
    pollMs: d.DEFAULTS.processorPollMs,
    recoveryEveryMs: d.DEFAULTS.recoveryEveryMs,
    downRetryMs: d.DEFAULTS.downRetryMs,
  };
}

/** The same outcome draw as the simulator (same weights), turned into what the processor records. */
function outcomeMaker(d, rates) {
  const random = d.seededRandom(1);
  const kinds = d.OUTCOMES;
  const total = kinds.reduce((s, k) => s + rates[k], 0);
  const byCode = new Map(PLANS.map((p) => [p.code, p]));
  return (order, now) => {
    let x = random() * total;
    let kind = 'fulfilled';
    for (const k of kinds) {
      x -= rates[k];
      if (x < 0) {
        kind = k;
        break;
      }
    }
    switch (kind) {
      case 'fulfilled':
        return { status: 'FULFILLED' };
      case 'wrongNumber':
        return { status: 'REFUNDED', refundMessage: d.MESSAGES.WRONG_NUMBER, suggestedOffers: null, refundEntryId: d.newObjectId(now) };
      case 'planMismatch':
        return {
          status: 'REFUNDED',
          refundMessage: d.MESSAGES.PLAN_MISMATCH,
          suggestedOffers: [{ typename: d.MESSAGES.FACTURE_TYPENAME, plan_code: byCode.get(order.planCode).facture, amount: order.topupAmount }],
          refundEntryId: d.newObjectId(now),
        };
      default:
        return { status: 'UNKNOWN_ERROR', refundMessage: d.MESSAGES.UNKNOWN_NOTICE, alert: d.makeAlert(order, now, `simulated ${kind}`) };
    }
  };
}

/** Let one timer run, so that a delay caused by a loop that never yielded is recorded before the histogram is read. */
const turn = () => new Promise((r) => setTimeout(r, ELD_RESOLUTION_MS * 2));


/** Phase 1 baseline: the processor's store transactions in a tight loop. */
async function childBaseline(d, o) {
  const ctx = await prepare(d, o);
  const next = outcomeMaker(d, simConfig(d, { min: 0, max: 0 }).operators.mobilis.rates);
  const { store } = ctx;
  gc();
  const h = eldMonitor();
  h.reset();
  const stop = meter();
  let done = 0;
  for (;;) {
    const orders = await store.processing.claimOrders({ owner: OWNER, now: Date.now(), leaseMs: 120_000, limit: o.concurrency });
    if (orders.length === 0) break;
    for (const order of orders) {
      if (!(await store.processing.markCallStarted({ orderId: order.id, owner: OWNER, now: Date.now() }))) throw new Error('lease lost');
      const now = Date.now();
      const r = await store.processing.recordOutcome({ orderId: order.id, owner: OWNER, now, outcome: next(order, now) });
      if (r !== 'applied') throw new Error(`outcome ${r}`);
      done++;
    }
  }
  let run = stop();
  await turn();
  run = withGc(run);
  const eld = eldStats(h);
  h.disable();
  const check = await verify(d, ctx, o.orders, null);
  await store.close();
  rmSync(ctx.tmpDir, { recursive: true, force: true });
  return { kind: 'baseline', orders: done, insert: ctx.insert, run: { ...run, perSec: done / run.wallS, cpuUsPerOrder: (run.cpuS * 1e6) / done }, eld, check };
}

/** Phase 1: the processor drains N orders with a zero-latency simulator. */
async function childThroughput(d, o) {
  const ctx = await prepare(d, o);
  const sim = new d.OperatorSimulator(() => ctx.deps.catalogue.get(), simConfig(d, { min: 0, max: 0 }));
  const { store, counters } = countingStore(ctx.store, { started: o.orders, recorded: o.orders });
  const processor = new d.OrderProcessor(
    { store, clock: ctx.deps.clock, catalogue: ctx.deps.catalogue, gateway: sim, logger: d.pino({ level: 'silent' }) },
    processorOptions(d, o.concurrency),
  );
  gc();
  const h = eldMonitor();
  h.reset();
  const stop = meter();
  await processor.start();
  await counters.allRecorded;
  let run = stop();
  await turn();
  run = withGc(run);
  const eld = eldStats(h);
  h.disable();
  await processor.stop();
  const check = await verify(d, ctx, o.orders, sim);
  await ctx.store.close();
  rmSync(ctx.tmpDir, { recursive: true, force: true });
  return {
    kind: 'processor',
    orders: counters.recorded,
    insert: ctx.insert,
    run: { ...run, perSec: counters.recorded / run.wallS, cpuUsPerOrder: (run.cpuS * 1e6) / counters.recorded },
    storeCalls: counters.slow,
    eld,
    check,
  };
}

/** Phase 2: N orders in flight at realistic latency. */
async function childInflight(d, o) {
  const total = o.inflight + o.backlog;
  const ctx = await prepare(d, { orders: total, merchants: o.merchants });
  const sim = new d.OperatorSimulator(() => ctx.deps.catalogue.get(), simConfig(d, { min: o.latencyMin, max: o.latencyMax }));
  const inFlightTarget = Math.min(total, o.inflightConcurrency);
  const { store, counters } = countingStore(ctx.store, { started: inFlightTarget, recorded: total });
  const processor = new d.OrderProcessor(
    { store, clock: ctx.deps.clock, catalogue: ctx.deps.catalogue, gateway: sim, logger: d.pino({ level: 'silent' }) },
    processorOptions(d, o.inflightConcurrency),
  );
  const h = eldMonitor();

  // Baseline: the same process, store open and orders queued, processor not started.
  gc();
  const memBase = mem();
  h.reset();
  const stopBase = meter();
  await sleep(o.baselineWindowS * 1000);
  const baseRun = stopBase();
  const baseEld = eldStats(h);
  await turn();
  const base = { ...withGc(baseRun), eld: baseEld, mem: memBase };

  // Start-up: claim + markCallStarted for every order that fits.
  h.reset();
  const t0 = performance.now();
  const stopPhase = meter();
  const stopStartup = meter();
  await processor.start();
  await counters.allStarted;
  const startupRun = stopStartup();
  await turn();
  const startup = { ...withGc(startupRun), eld: eldStats(h), startedOrders: counters.started, recordedMeanwhile: counters.recorded };
  gc();
  const memHandling = mem();

  // Window: everything in flight (the first answers arrive after latencyMin).
  const samples = [];
  const recordedAtWindowStart = counters.recorded;
  h.reset();
  const stopWindow = meter();
  let last = { t: performance.now(), cpu: process.cpuUsage() };
  let peakRss = memHandling.rss;
  const sampler = setInterval(() => {
    const now = performance.now();
    const cu = process.cpuUsage(last.cpu);
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    samples.push({
      atS: round((now - t0) / 1000, 2),
      cpuCores: round((cu.user + cu.system) / 1e3 / (now - last.t), 3),
      recorded: counters.recorded,
      rssMiB: round(MiB(m.rss), 1),
      heapUsedMiB: round(MiB(m.heapUsed), 1),
    });
    last = { t: now, cpu: process.cpuUsage() };
  }, 1000);
  await sleep(o.windowS * 1000);
  const winRun = stopWindow();
  const winEld = eldStats(h);
  const winMem = mem();
  await turn();
  const win = { ...withGc(winRun), eld: winEld, recordedDuring: counters.recorded - recordedAtWindowStart, memNoGc: winMem };
  // Split of the window: before the first answer (pure holding cost) vs after.
  const firstAnswerS = counters.firstRecordedAt === null ? null : (counters.firstRecordedAt - t0) / 1000;

  // Until all are final.
  h.reset();
  await counters.allRecorded;
  clearInterval(sampler);
  let phase = stopPhase();
  await turn();
  phase = withGc(phase);
  const tail = eldStats(h);
  h.disable();
  const totalS = (counters.recordedAllAt - t0) / 1000;
  gc();
  const memFinal = mem();
  await processor.stop();
  const check = await verify(d, ctx, total, sim);
  await ctx.store.close();
  rmSync(ctx.tmpDir, { recursive: true, force: true });
  return {
    kind: 'inflight',
    inflight: inFlightTarget,
    orders: total,
    concurrency: o.inflightConcurrency,
    latencyMs: { min: o.latencyMin, max: o.latencyMax },
    insert: ctx.insert,
    baseline: base,
    startup,
    memHandling,
    memFinal,
    window: win,
    firstAnswerS,
    afterWindowEld: tail,
    peakRss,
    samples,
    storeCalls: counters.slow,
    totalS,
    phase: { ...phase, cpuUsPerOrder: (phase.cpuS * 1e6) / total },
    check,
  };
}

async function runChild() {
  const o = JSON.parse(args.opts);
  const watchdog = setTimeout(() => {
    process.stderr.write(`child ${args.child}: watchdog fired after ${o.deadlineS} s\n`);
    process.exit(3);
  }, o.deadlineS * 1000);
  watchdog.unref();
  observeGc();
  const d = await importDist();
  let result;
  if (args.child === 'baseline') result = await childBaseline(d, o);
  else if (args.child === 'processor') result = await childThroughput(d, o);
  else if (args.child === 'inflight') result = await childInflight(d, o);
  else throw new Error(`unknown child ${args.child}`);
  writeFileSync(args.result, JSON.stringify(result));
}

// ================================================================ parent side

function runChildProcess(kind, opts, { cpuProfDir, profName, hardTimeoutS }) {
  const resultPath = join(os.tmpdir(), `shahn-procbench-${process.pid}-${kind}-${Date.now()}.json`);
  const nodeArgs = ['--expose-gc'];
  if (cpuProfDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', cpuProfDir, '--cpu-prof-name', `${profName}.cpuprofile`);
  const child = spawn(process.execPath, [...nodeArgs, SELF, '--child', kind, '--opts', JSON.stringify(opts), '--result', resultPath], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b) => {
    stderr += b;
    if (stderr.length > 20_000) stderr = stderr.slice(-20_000);
  });
  return new Promise((resolve, reject) => {
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind} child did not finish within ${hardTimeoutS} s`));
    }, hardTimeoutS * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      if (code !== 0) return reject(new Error(`${kind} child exited with ${code ?? signal}\n${stderr}`));
      try {
        const r = JSON.parse(readFileSync(resultPath, 'utf8'));
        rmSync(resultPath, { force: true });
        resolve(r);
      } catch (err) {
        reject(new Error(`${kind} child left no result: ${err.message}\n${stderr}`));
      }
    });
  });
}

async function waitQuiet(maxS) {
  if (maxS <= 0) return null;
  const until = Date.now() + maxS * 1000;
  let busy = null;
  while (Date.now() < until) {
    const a = sysCpu();
    await sleep(1000);
    const b = sysCpu();
    if (!a || !b) return null;
    busy = (b.busy - a.busy) / CLK_TCK;
    if (busy < 0.5) return busy;
  }
  return busy;
}

function summarizeProfile(file, top = 15) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const self = new Map();
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
  let total = 0;
  for (const [id, us] of dt) {
    const n = byId.get(id);
    const cf = n.callFrame;
    const where = cf.url ? `${cf.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  }
  return { totalMs: total / 1000, top: [...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, us]) => ({ fn, ms: round(us / 1000, 1), pct: round((100 * us) / total, 1) })) };
}

const fmtInt = (x) => (x === null || x === undefined ? '-' : Math.round(x).toLocaleString('en-US'));
const fmt = (x, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
const pad = (s, n) => String(s).padStart(n);

async function runParent() {
  const quick = args.quick;
  const o = {
    orders: intArg(args, 'orders', 1, 10_000_000, quick ? 2_000 : 20_000),
    concurrency: intArg(args, 'concurrency', 1, 1_000_000, 64),
    rounds: intArg(args, 'rounds', 1, 20, quick ? 1 : 3),
    inflight: intArg(args, 'inflight', 1, 1_000_000, quick ? 1_000 : 10_000),
    backlog: intArg(args, 'backlog', 0, 10_000_000, 0),
    windowS: intArg(args, 'window', 1, 600, quick ? 2 : 10),
    baselineWindowS: intArg(args, 'baseline-window', 1, 600, quick ? 1 : 5),
    merchants: intArg(args, 'merchants', 1, 10_000, 8),
    quietWaitS: intArg(args, 'quiet-wait', 0, 300, quick ? 0 : 15),
  };
  o.inflightConcurrency = intArg(args, 'inflight-concurrency', 1, 10_000_000, o.inflight);
  const lat = (args.latency ?? (quick ? '500,3000' : '5000,30000')).split(',').map(Number);
  if (lat.length !== 2 || !lat.every((x) => Number.isFinite(x) && x >= 0) || lat[1] < lat[0] || lat[1] >= 60_000) {
    process.stderr.write('--latency must be MIN,MAX in ms with MIN <= MAX < 60000 (the gateway timeout)\n');
    process.exit(2);
  }
  [o.latencyMin, o.latencyMax] = lat;
  const only = new Set((args.only ?? 'throughput,inflight').split(',').map((s) => s.trim()));
  const outPath = args.out ?? join(RESULTS_DIR, 'processor.json');
  mkdirSync(RESULTS_DIR, { recursive: true });
  const cpuProfDir = args['cpu-prof'] ? join(RESULTS_DIR, 'cpuprof-processor') : null;
  if (cpuProfDir) {
    rmSync(cpuProfDir, { recursive: true, force: true });
    mkdirSync(cpuProfDir, { recursive: true });
  }

  const log = (s = '') => process.stdout.write(s + '\n');
  const startedAt = new Date();
  log(`shahn order processor benchmark — node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const out = { startedAt: startedAt.toISOString(), node: process.version, cores: os.cpus().length, options: o, throughput: null, inflight: null, ok: true };
  let ok = true;

  // ---------------------------------------------------------- phase 1
  if (only.has('throughput')) {
    log(`\n[1] throughput at zero latency: ${fmtInt(o.orders)} orders, concurrency ${o.concurrency}, ${o.rounds} round(s)`);
    const rounds = [];
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 === 0 ? ['baseline', 'processor'] : ['processor', 'baseline'];
      const res = {};
      for (const kind of order) {
        await waitQuiet(o.quietWaitS);
        process.stdout.write(`    round ${r + 1} ${kind.padEnd(9)} … `);
        res[kind] = await runChildProcess(
          kind,
          { orders: o.orders, concurrency: o.concurrency, merchants: o.merchants, deadlineS: 600 },
          { cpuProfDir, profName: `${kind}-r${r + 1}`, hardTimeoutS: 660 },
        );
        const x = res[kind];
        log(`${fmtInt(x.run.perSec)} orders/s, ${fmt(x.run.cpuUsPerOrder, 0)} µs CPU/order, noise ${fmt(x.run.noiseCores)} cores, checks ${x.check.ok ? 'ok' : 'FAILED'}`);
        if (!x.check.ok) ok = false;
      }
      rounds.push({ ...res, ratio: res.processor.run.perSec / res.baseline.run.perSec, cpuRatio: res.processor.run.cpuUsPerOrder / res.baseline.run.cpuUsPerOrder });
    }
    const med = (f) => median(rounds.map(f));
    out.throughput = {
      rounds,
      median: {
        baselinePerSec: med((r) => r.baseline.run.perSec),
        processorPerSec: med((r) => r.processor.run.perSec),
        ratio: med((r) => r.ratio),
        baselineCpuUsPerOrder: med((r) => r.baseline.run.cpuUsPerOrder),
        processorCpuUsPerOrder: med((r) => r.processor.run.cpuUsPerOrder),
        cpuRatio: med((r) => r.cpuRatio),
        sendPerSec: med((r) => r.processor.insert.perSec),
        sendCpuUsPerOrder: med((r) => (r.processor.insert.cpuS * 1e6) / o.orders),
      },
    };
  }

  // ---------------------------------------------------------- phase 2
  if (only.has('inflight')) {
    const n = o.inflight + o.backlog;
    log(`\n[2] ${fmtInt(o.inflight)} in flight: ${fmtInt(n)} orders, concurrency ${fmtInt(o.inflightConcurrency)}, latency ${o.latencyMin}–${o.latencyMax} ms, window ${o.windowS} s`);
    await waitQuiet(o.quietWaitS);
    process.stdout.write('    running … ');
    const deadlineS = o.baselineWindowS + 120 + Math.ceil((o.latencyMax / 1000 + 60) * Math.ceil(n / o.inflightConcurrency)) + o.windowS;
    const x = await runChildProcess('inflight', { ...o, deadlineS }, { cpuProfDir, profName: 'inflight', hardTimeoutS: deadlineS + 60 });
    log(`all final after ${fmt(x.totalS)} s, checks ${x.check.ok ? 'ok' : 'FAILED'}`);
    if (!x.check.ok) ok = false;
    out.inflight = x;
  }

  // ---------------------------------------------------------- table
  log('\n' + '='.repeat(96));
  if (out.throughput) {
    const t = out.throughput;
    const r0 = t.rounds;
    const med = (f) => median(r0.map(f));
    log(`1. THROUGHPUT AT ZERO LATENCY — ${fmtInt(o.orders)} production orders, concurrency ${o.concurrency}, ${o.merchants} merchants, median of ${o.rounds} round(s)`);
    log(`${'  run'.padEnd(36)}${pad('orders/s', 10)}${pad('wall s', 8)}${pad('CPU µs/ord', 12)}${pad('cores', 7)}${pad('GC ms', 7)}${pad('ELD max ms', 12)}${pad('noise', 7)}`);
    const row = (label, k) =>
      log(
        `${('  ' + label).padEnd(36)}${pad(fmtInt(med((r) => r[k].run.perSec)), 10)}${pad(fmt(med((r) => r[k].run.wallS)), 8)}` +
          `${pad(fmt(med((r) => r[k].run.cpuUsPerOrder), 0), 12)}${pad(fmt(med((r) => r[k].run.cores)), 7)}${pad(fmt(med((r) => r[k].run.gc.ms), 0), 7)}` +
          `${pad(fmt(med((r) => r[k].eld.maxMs), 0), 12)}${pad(fmt(med((r) => r[k].run.noiseCores)), 7)}`,
      );
    row('store loop, no processor (baseline)', 'baseline');
    row('OrderProcessor + simulator (0 ms)', 'processor');
    log(`  event loop during the drain: ${r0.map((r) => `${r.processor.eld.samples} samples in ${fmt(r.processor.run.wallS)} s`).join(', ')} (10 ms sampling: ~100/s when the loop turns; 1 = it never turned)`);
    log(`  processor / baseline: ${fmt(t.median.ratio)}× throughput, ${fmt(t.median.cpuRatio)}× CPU per order (paired per round, median; per round: ${r0.map((r) => fmt(r.ratio)).join(', ')})`);
    log(`  send path (sendTopup → insertOrder + FLEXY charge, no HTTP): ${fmtInt(t.median.sendPerSec)} orders/s, ${fmt(t.median.sendCpuUsPerOrder, 0)} µs CPU/order`);
    const p = r0[r0.length - 1].processor.check;
    const allOk = r0.every((r) => r.processor.check.ok && r.baseline.check.ok);
    log(
      `  checks (every run): checkMoney() ${r0.every((r) => r.processor.check.checkMoneyCount === 0 && r.baseline.check.checkMoneyCount === 0) ? '= []' : 'NOT EMPTY'}; ` +
        `final ${fmtInt(p.final)}/${fmtInt(p.expected)}; duplicate calls ${p.duplicates}; simulator calls ${fmtInt(p.calls)} → ${allOk ? 'PASS' : 'FAIL'}`,
    );
    log(`  last processor run: ${Object.entries(p.statuses).map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ')}; ledger ${Object.entries(p.ledger).map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ')}; alerts ${fmtInt(p.alerts)}`);
  }
  if (out.inflight) {
    const x = out.inflight;
    log('');
    log(`2. ${fmtInt(x.inflight)} ORDERS IN FLIGHT — concurrency ${fmtInt(x.concurrency)}, latency ${x.latencyMs.min / 1000}–${x.latencyMs.max / 1000} s, gatewayTimeout 60 s, lease 120 s${o.backlog ? `, backlog ${fmtInt(o.backlog)}` : ''}`);
    log(`${'  measure'.padEnd(32)}${pad(`idle ${o.baselineWindowS}s`, 12)}${pad('start-up', 12)}${pad(`in flight ${o.windowS}s`, 15)}${pad('delta', 12)}`);
    const line = (label, a, b, c, delta) => log(`${('  ' + label).padEnd(32)}${pad(a, 12)}${pad(b, 12)}${pad(c, 15)}${pad(delta, 12)}`);
    line('wall s', fmt(x.baseline.wallS), fmt(x.startup.wallS), fmt(x.window.wallS), '');
    line('CPU (cores = CPU s / wall s)', fmt(x.baseline.cores, 3), fmt(x.startup.cores, 3), fmt(x.window.cores, 3), fmt(x.window.cores - x.baseline.cores, 3));
    line('CPU s (user + system)', fmt(x.baseline.cpuS, 3), fmt(x.startup.cpuS, 3), fmt(x.window.cpuS, 3), '');
    line('GC ms (number of GCs)', `${fmt(x.baseline.gc.ms, 0)} (${x.baseline.gc.count})`, `${fmt(x.startup.gc.ms, 0)} (${x.startup.gc.count})`, `${fmt(x.window.gc.ms, 0)} (${x.window.gc.count})`, '');
    line('GC longest pause ms', fmt(x.baseline.gc.maxMs, 0), fmt(x.startup.gc.maxMs, 0), fmt(x.window.gc.maxMs, 0), '');
    line('event-loop delay p50 ms', fmt(x.baseline.eld.p50Ms), fmt(x.startup.eld.p50Ms), fmt(x.window.eld.p50Ms), fmt(x.window.eld.p50Ms - x.baseline.eld.p50Ms));
    line('event-loop delay p99 ms', fmt(x.baseline.eld.p99Ms), fmt(x.startup.eld.p99Ms), fmt(x.window.eld.p99Ms), fmt(x.window.eld.p99Ms - x.baseline.eld.p99Ms));
    line('event-loop delay max ms', fmt(x.baseline.eld.maxMs), fmt(x.startup.eld.maxMs), fmt(x.window.eld.maxMs), '');
    line('noise (cores used elsewhere)', fmt(x.baseline.noiseCores), fmt(x.startup.noiseCores), fmt(x.window.noiseCores), '');
    log(`${'  memory (after GC)'.padEnd(32)}${pad('before', 12)}${pad('all HANDLING', 14)}${pad('window end*', 13)}${pad('all final', 11)}${pad('delta', 10)}${pad('per order', 11)}`);
    const mline = (label, k) =>
      log(
        `${('  ' + label).padEnd(32)}${pad(fmt(MiB(x.baseline.mem[k]), 1), 12)}${pad(fmt(MiB(x.memHandling[k]), 1), 14)}${pad(fmt(MiB(x.window.memNoGc[k]), 1), 13)}${pad(fmt(MiB(x.memFinal[k]), 1), 11)}` +
          `${pad(fmt(MiB(x.memHandling[k] - x.baseline.mem[k]), 1), 10)}${pad(fmtInt((x.memHandling[k] - x.baseline.mem[k]) / x.inflight) + ' B', 11)}`,
      );
    mline('RSS MiB', 'rss');
    mline('heap used MiB', 'heapUsed');
    mline('heap total MiB', 'heapTotal');
    log(`  (delta and per order: all HANDLING − before. * window end: no GC. Peak RSS during the window ${fmt(MiB(x.peakRss), 1)} MiB)`);
    log(`  start → all ${fmtInt(x.startup.startedOrders)} HANDLING (claim + call started): ${fmt(x.startup.wallS, 3)} s, event loop blocked up to ${fmt(x.startup.eld.maxMs, 0)} ms`);
    log(`  slowest store calls (synchronous time): ${Object.entries(x.storeCalls).map(([k, v]) => `${k} ${fmt(v.maxMs, 1)} ms (${v.over20ms} of ${fmtInt(v.n)} over 20 ms)`).join('; ')}`);
    log(`  first answer recorded at ${fmt(x.firstAnswerS)} s; ${fmtInt(x.window.recordedDuring)} recorded during the window`);
    log(`  TIME UNTIL ALL ${fmtInt(x.orders)} FINAL: ${fmt(x.totalS)} s (latency max ${x.latencyMs.max / 1000} s); whole phase ${fmt(x.phase.cpuS, 2)} CPU s = ${fmt(x.phase.cpuUsPerOrder, 0)} µs/order (GC ${fmt(x.phase.gc.ms, 0)} ms); ELD max after the window ${fmt(x.afterWindowEld.maxMs, 0)} ms`);
    log(
      `  checks: checkMoney() ${x.check.checkMoneyCount === 0 ? '= []' : 'NOT EMPTY'}; final ${fmtInt(x.check.final)}/${fmtInt(x.check.expected)}; duplicate calls ${x.check.duplicates}; ` +
        `${Object.entries(x.check.statuses).map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ')} → ${x.check.ok ? 'PASS' : 'FAIL'}`,
    );
    log(`  per-second samples (s since start: cores, recorded): ${x.samples.map((s) => `${s.atS}:${s.cpuCores}/${s.recorded}`).join(' ')}`);
  }
  log('='.repeat(96));

  if (cpuProfDir && existsSync(cpuProfDir)) {
    out.cpuProfiles = {};
    for (const f of readdirSync(cpuProfDir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
      const s = summarizeProfile(join(cpuProfDir, f));
      out.cpuProfiles[f] = s;
      log(`\nprofile ${f} (${fmt(s.totalMs / 1000)} s sampled), top self time:`);
      for (const t of s.top) log(`  ${pad(fmt(t.ms, 0), 8)} ms ${pad(fmt(t.pct, 1), 5)}%  ${t.fn}`);
    }
  }

  out.ok = ok;
  out.finishedAt = new Date().toISOString();
  writeFileSync(outPath, JSON.stringify(out, null, 2) + '\n');
  log(`\nresults: ${outPath}${ok ? '' : '\nA CHECK FAILED'}`);
  return ok ? 0 : 1;
}

if (args.child) {
  runChild().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exit(2);
    },
  );
} else {
  runParent().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`benchmark broke: ${err.stack ?? err}\n`);
      process.exit(2);
    },
  );
}
