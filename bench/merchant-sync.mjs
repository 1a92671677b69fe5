#!/usr/bin/env node
/**
 * Merchant sync benchmark: the @shahn/merchant SyncKit against the guide's fixed polling loop.
 *
 *   npm run build && node bench/merchant-sync.mjs [--orders N] [--spread S] [--tick MS] [--quick] [--out FILE]
 *                                                 [--schedule JSON] [--experiment sightings] [--keep]
 *
 * One `node bin/shahn.js serve` child on loopback (PORT=0), on a fresh SQLite store in a temp dir:
 * SHAHN_RATE_LIMIT=0, SHAHN_PROCESSOR_CONCURRENCY = max(2000, 2N), the operator simulator at its
 * documented latency (5–30 s, uniform) and default outcome rates except timeout weight 0 (no order
 * waits for the 60 s gateway timeout). Two merchants are created with `shahn merchant create --json`
 * on that store before serve starts, one per contender, so the kit's list windows hold the kit's
 * orders only (as for a merchant whose every order goes through the kit).
 *
 * Both contenders run at the same time against the same server:
 * - Kit: a SyncKit (SQLite store in the temp dir, real clock, default schedule) with its background
 *   loop (start(), tickMs 1000 unless --tick). N orders are sent with kit.send(), one every S/N s
 *   (--spread S, default 10; 0 = all at once) and tracked until final (FULFILLED, REFUNDED,
 *   UNKNOWN_ERROR). Calls per order = (kit.apiCalls − sends) / N (also reported with the sends).
 *   Lag per order = knownFinalAt (kit store) − final_at (server DB).
 * - Fixed loop (baseline): N more orders sent with the SDK at the same moments, each followed by the
 *   seed guide's loop: check-id right after the send, then every 5 s (sleep 5 s after each answer)
 *   until a final status, 60 attempts at most. Lag = when the loop read the final status − final_at.
 * final_at is the server's record of when the order became final (orders.final_at, read-only).
 *
 * Target: kit ≤ 3 calls per order (without the sends) on average, and the kit's lag mean and p95
 * no worse than the fixed loop's. Exit code 0 = ran and the target passed, 1 = target missed,
 * 2 = the run broke (or orders were left unresolved). Results: bench/results/merchant-sync.json.
 *
 * Diagnostics (to explain a miss): every HTTP call is counted by endpoint (through the SDK's fetch
 * option), the kit's list/check answers are recorded per order (so the effective interval between
 * two looks at an open order is known), and every pollOnce() of the kit is timed (due orders, list
 * pages, duration). --schedule '{"firstCheckMs":5000,"intervals":[[60000,4000],…]}' (merged over the
 * kit's DEFAULT_SCHEDULE) and --tick try other kit settings through the kit's public options; the
 * default run uses the kit's defaults. --experiment sightings (not a measurement of the kit as
 * shipped): a runtime wrapper around the kit's client.mobile.list also applies, through the kit's own
 * apply(), the final status of open kit orders that appear on a page the kit fetched but were not due
 * (the kit as shipped ignores them) — to size that proposed change. --keep keeps the temp dir.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT, countBy, countingFetch, killChildrenNow, numArg, round, sec, sleep, stats } from './lib.mjs';

const BIN = join(ROOT, 'bin', 'shahn.js');
const SELF = fileURLToPath(import.meta.url);
const FINAL = new Set(['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR']);
const GUIDE_INTERVAL_MS = 5_000;
const GUIDE_MAX_ATTEMPTS = 60;
const PLAN = 'PREPAID_DJEZZY';
const AMOUNT = 100;

// ---------------------------------------------------------------- arguments

const { values: args } = parseArgs({
  options: {
    orders: { type: 'string' },
    spread: { type: 'string' },
    tick: { type: 'string' },
    schedule: { type: 'string' },
    experiment: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(readFileSync(SELF, 'utf8').split('\n').slice(1, 40).filter((l) => l.startsWith(' *')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}
const N = numArg(args, 'orders', 1, 20_000, args.quick ? 100 : 1000);
const SPREAD_MS = numArg(args, 'spread', 0, 600, 10, false) * 1000;
const TICK_MS = numArg(args, 'tick', 10, 60_000, 1000);
let SCHEDULE = null; // merged over DEFAULT_SCHEDULE in main()
const EXPERIMENT = args.experiment ?? null;
if (EXPERIMENT !== null && EXPERIMENT !== 'sightings') {
  process.stderr.write(`--experiment: only "sightings" is known, got "${EXPERIMENT}"\n`);
  process.exit(2);
}
const OUT = args.out ?? join(ROOT, 'bench', 'results', 'merchant-sync.json');
const CONCURRENCY = Math.max(2000, 2 * N);
/** Everything must be over by then: the sends, 30 s of operator latency, the guide's 5 minutes. */
const DEADLINE_MS = SPREAD_MS + (GUIDE_MAX_ATTEMPTS * GUIDE_INTERVAL_MS) + 60_000;

// ---------------------------------------------------------------- helpers

const log = (msg) => process.stderr.write(`[merchant-sync ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const histogram = (xs, edges) => {
  const h = edges.map((e, i) => ({ from: e, to: edges[i + 1] ?? null, n: 0 }));
  for (const x of xs) for (let i = h.length - 1; i >= 0; i--) if (x >= h[i].from) { h[i].n++; break; }
  return h;
};

const children = new Set();
const killChildren = () => killChildrenNow(children);
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killChildren();
    process.exit(2);
  });
}

function cli(argv, env) {
  const r = spawnSync(process.execPath, [BIN, ...argv], { cwd: ROOT, env: { ...process.env, SHAHN_LOG_LEVEL: 'warn', ...env }, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`shahn ${argv.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function startServe(env) {
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out = (out + d.toString()).slice(-200_000)));
  child.stderr.on('data', (d) => (err = (err + d.toString()).slice(-200_000)));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const deadline = Date.now() + 30_000;
  while (!/listening on (http:\/\/\S+)/.test(out)) {
    if (child.exitCode !== null) throw new Error(`shahn serve exited ${child.exitCode}: ${err}${out}`);
    if (Date.now() > deadline) throw new Error(`shahn serve did not start: ${err}${out}`);
    await sleep(50);
  }
  const url = /listening on (http:\/\/\S+)/.exec(out)[1];
  if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(url)) throw new Error(`not loopback: ${url}`);
  return {
    url,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(killer);
      children.delete(child);
      return code;
    },
  };
}

// ---------------------------------------------------------------- the run

async function main() {
  const t00 = Date.now();
  const distOk = ['dist/cli/main.js', 'packages/sdk/dist/index.js', 'packages/merchant/dist/index.js'].every((p) => {
    try {
      readFileSync(join(ROOT, p));
      return true;
    } catch {
      return false;
    }
  });
  if (!distOk) throw new Error('build first: npm run build');
  const [{ SyncKit, openSqliteKitStore, DEFAULT_SCHEDULE }, { Shahn }, { default: Database }] = await Promise.all([
    import('@shahn/merchant'),
    import('@shahn/sdk'),
    import('better-sqlite3'),
  ]);
  if (args.schedule) {
    try {
      SCHEDULE = { ...DEFAULT_SCHEDULE, ...JSON.parse(args.schedule) };
      SCHEDULE.intervals = SCHEDULE.intervals.map(([a, b]) => [a === null ? Number.POSITIVE_INFINITY : a, b]);
    } catch (err) {
      throw new Error(`--schedule: ${err.message}`);
    }
  }

  const dir = mkdtempSync(join(os.tmpdir(), 'shahn-merchant-sync-'));
  const dbPath = join(dir, 'shahn.db');
  const simPath = join(dir, 'simulator.json');
  // Documented latency (the defaults, 5–30 s) and default rates; only the timeout weight is 0.
  writeFileSync(simPath, JSON.stringify({ defaults: { latencyMs: { min: 5_000, max: 30_000 }, rates: { timeout: 0 } } }));
  const env = {
    SHAHN_DB: dbPath,
    SHAHN_LOG_LEVEL: 'warn',
    SHAHN_ACCESS_LOG: 'false',
    SHAHN_DEMO: 'false',
    SHAHN_RATE_LIMIT: '0',
    SHAHN_SIMULATOR_CONFIG: simPath,
    SHAHN_PROCESSOR_CONCURRENCY: String(CONCURRENCY),
    SHAHN_SHUTDOWN_GRACE_MS: '5000',
    HOST: '127.0.0.1',
    PORT: '0',
  };
  const kitMerchant = JSON.parse(cli(['merchant', 'create', '--username', '+213550000001', '--balance', '100000000', '--json'], env));
  const loopMerchant = JSON.parse(cli(['merchant', 'create', '--username', '+213550000002', '--balance', '100000000', '--json'], env));
  const server = await startServe(env);
  log(`shahn serve at ${server.url} (store ${dbPath}); ${N} + ${N} orders over ${SPREAD_MS / 1000} s, processor concurrency ${CONCURRENCY}`);

  let result;
  let kit;
  let kitStore;
  try {
    // ---- kit
    // Every top-up in a kit answer: { t, status, via, due } where due = the order was among the due
    // orders of the pollOnce that made the call (the kit applies those only; others on a list page are
    // sightings it does not use).
    const kitObs = new Map();
    let dueNow = null; // topupIds due in the running pollOnce
    const kitHttp = countingFetch((via, t, items) => {
      for (const it of items) {
        let a = kitObs.get(it._id);
        if (!a) kitObs.set(it._id, (a = []));
        a.push({ t, status: it.status, via, due: dueNow?.has(it._id) ?? false });
      }
    });
    kitStore = openSqliteKitStore(join(dir, 'kit', 'merchant.db'));
    await kitStore.migrate();
    let inPoll = false;
    const dueOrders = kitStore.dueOrders.bind(kitStore); // unwrapped, for this script's own progress checks
    kitStore.dueOrders = async (...a) => {
      const due = await dueOrders(...a);
      if (inPoll) dueNow = new Set(due.map((o) => o.topupId).filter(Boolean));
      return due;
    };
    const kitClient = new Shahn({ apiKey: kitMerchant.productionKey, baseUrl: server.url, fetch: kitHttp.fetch });
    kit = new SyncKit({
      ...(SCHEDULE ? { schedule: SCHEDULE } : {}),
      client: kitClient,
      store: kitStore,
      tickMs: TICK_MS,
      logger: { warn: (o, m) => log(`kit warn: ${m} ${JSON.stringify(o)}`), error: (o, m) => log(`kit error: ${m} ${JSON.stringify(o)}`) },
    });
    let sightingsApplied = 0;
    if (EXPERIMENT === 'sightings') {
      // Experiment only: what the kit would gain by using every top-up on the list pages it pays for.
      const list = kitClient.mobile.list.bind(kitClient.mobile);
      kitClient.mobile.list = async (query) => {
        const page = await list(query);
        for (const t of page.items) {
          if (!FINAL.has(t.status) || dueNow?.has(t._id)) continue; // due ones: the kit applies them itself
          const o = await kitStore.getOrder(t.ref); // the kit's ref is its order id
          if (!o || o.topupId !== t._id || FINAL.has(o.status) || o.status === 'SENDING') continue;
          await kit.apply(o, t, 0); // the kit's own (private) apply: same store transition and events
          sightingsApplied++;
        }
        return page;
      };
    }
    // Time every pollOnce (instrumentation only: the kit's own method runs unchanged).
    const ticks = [];
    const pollOnce = kit.pollOnce.bind(kit);
    kit.pollOnce = async (...a) => {
      const start = Date.now();
      const before = { ...kitHttp.counts };
      inPoll = true;
      let due;
      try {
        due = await pollOnce(...a);
      } finally {
        inPoll = false;
        dueNow = null;
      }
      if (due > 0) {
        ticks.push({
          start, ms: Date.now() - start, due,
          lists: kitHttp.counts.list - before.list, checkIds: kitHttp.counts.checkId - before.checkId, checkRefs: kitHttp.counts.checkRef - before.checkRef,
        });
      }
      return due;
    };

    // ---- fixed loop
    const loopHttp = countingFetch(null);
    const loopClient = new Shahn({ apiKey: loopMerchant.productionKey, baseUrl: server.url, fetch: loopHttp.fetch });
    const loopOrders = []; // { i, topupId, sentAt, seenFinalAt, status, checks, error }

    async function guideLoop(rec) {
      for (let i = 0; i < GUIDE_MAX_ATTEMPTS; i++) {
        rec.checks++;
        try {
          const t = await loopClient.mobile.checkId(rec.topupId);
          if (FINAL.has(t.status)) {
            rec.seenFinalAt = Date.now();
            rec.status = t.status;
            return;
          }
        } catch (err) {
          rec.error = `${err.name}: ${err.message}`;
        }
        if (i < GUIDE_MAX_ATTEMPTS - 1) await sleep(GUIDE_INTERVAL_MS);
      }
      rec.status ??= 'TIMEOUT';
    }

    const sendErrors = { kit: 0, loop: 0 };
    const kitSent = [];
    const loopTasks = [];
    const kitSendTasks = [];
    kit.start();
    const t0 = Date.now();
    const gap = N > 1 ? SPREAD_MS / (N - 1) : 0;
    for (let i = 0; i < N; i++) {
      const at = t0 + i * gap;
      if (at > Date.now() + 1) await sleep(at - Date.now());
      const phone = (base) => `0${base + i}`.padStart(10, '0');
      kitSendTasks.push(
        kit.send({ orderId: `kit-${i}`, plan_code: PLAN, MSSIDN: phone(770_000_000), amount: AMOUNT }).then(
          (o) => kitSent.push({ id: o.id, topupId: o.topupId, sentAt: o.createdAt }),
          (err) => {
            sendErrors.kit++;
            log(`kit send ${i} failed: ${err.message}`);
          },
        ),
      );
      const rec = { i, topupId: null, sentAt: Date.now(), seenFinalAt: null, status: null, checks: 0, error: null };
      loopOrders.push(rec);
      loopTasks.push(
        loopClient.mobile.send({ plan_code: PLAN, MSSIDN: phone(771_000_000), amount: AMOUNT, ref: `loop-${i}` }).then(
          (sent) => {
            rec.topupId = sent.topupId;
            return guideLoop(rec);
          },
          (err) => {
            sendErrors.loop++;
            rec.error = `send: ${err.message}`;
            rec.status = 'SEND_FAILED';
          },
        ),
      );
    }
    await Promise.all(kitSendTasks);
    const sendsDoneAt = Date.now();
    log(`sends done in ${((sendsDoneAt - t0) / 1000).toFixed(1)} s (errors: kit ${sendErrors.kit}, loop ${sendErrors.loop})`);

    // Wait for both: the fixed loops end by themselves; the kit is done when its store has no open order.
    let loopsDone = false;
    const loopsAll = Promise.all(loopTasks).then(() => {
      loopsDone = true;
      log(`fixed loops done at +${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
    let kitDoneAt = null;
    let lastReport = Date.now();
    for (;;) {
      const open = (await dueOrders(Number.MAX_SAFE_INTEGER, 1_000_000)).length;
      if (open === 0 && kitDoneAt === null) {
        kitDoneAt = Date.now();
        log(`kit: every order final at +${((kitDoneAt - t0) / 1000).toFixed(1)} s (${kit.apiCalls} API calls)`);
      }
      if (kitDoneAt !== null && loopsDone) break;
      if (Date.now() - t0 > DEADLINE_MS) {
        log('deadline reached: stopping with orders unresolved');
        break;
      }
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        log(`+${((Date.now() - t0) / 1000).toFixed(0)} s: kit open ${open}, kit calls ${kit.apiCalls}; fixed loops done ${loopOrders.filter((r) => r.status).length}/${N}`);
      }
      await sleep(250);
    }
    await kit.stop();
    await Promise.race([loopsAll, sleep(1000)]);
    const endAt = Date.now();

    // ---- ground truth: the server's final_at (read-only)
    const sdb = new Database(dbPath, { readonly: true, fileMustExist: true });
    const rows = sdb.prepare('SELECT id, status, created_at, final_at, merchant_id FROM orders').all();
    sdb.close();
    const server_ = new Map(rows.map((r) => [r.id, r]));

    // ---- kit figures
    const kitRows = [];
    for (const s of kitSent) {
      const o = await kitStore.getOrder(s.id);
      const r = server_.get(o.topupId);
      const all = kitObs.get(o.topupId) ?? [];
      const obs = all.filter((x) => x.due); // the kit's own looks at this order
      const firstFinalObs = obs.find((x) => FINAL.has(x.status));
      const firstFinalSighting = all.find((x) => FINAL.has(x.status)); // in any answer the kit received
      // Intervals between consecutive looks while the order was still open on the API.
      const looks = obs.map((x) => x.t);
      const openIntervals = [];
      for (let k = 1; k < obs.length; k++) if (!FINAL.has(obs[k - 1].status)) openIntervals.push(obs[k].t - obs[k - 1].t);
      kitRows.push({
        id: o.id, topupId: o.topupId, status: o.status, serverStatus: r?.status ?? null,
        sentAt: s.sentAt, serverCreatedAt: r?.created_at ?? null, finalAt: r?.final_at ?? null, knownFinalAt: o.knownFinalAt,
        lagMs: o.knownFinalAt !== null && r?.final_at ? o.knownFinalAt - r.final_at : null,
        seenLagMs: firstFinalObs && r?.final_at ? firstFinalObs.t - r.final_at : null,
        recordDelayMs: firstFinalObs && o.knownFinalAt !== null ? o.knownFinalAt - firstFinalObs.t : null,
        sightingLagMs: firstFinalSighting && r?.final_at ? firstFinalSighting.t - r.final_at : null,
        finalAfterFirstLookMs: looks.length && r?.final_at ? r.final_at - looks[0] : null,
        firstLookMs: looks.length ? looks[0] - s.sentAt : null,
        looks: looks.length, openIntervals, checks: o.checks,
      });
    }
    const kitChecks = kit.apiCalls - kitHttp.counts.send; // checks + lists (kit's own count minus the sends)
    const kitFinal = kitRows.filter((r) => FINAL.has(r.status));
    const kitLag = stats(kitFinal.map((r) => r.lagMs));

    // ---- fixed-loop figures
    const loopRows = loopOrders.map((rec) => {
      const r = rec.topupId ? server_.get(rec.topupId) : undefined;
      return {
        ...rec, serverStatus: r?.status ?? null, serverCreatedAt: r?.created_at ?? null, finalAt: r?.final_at ?? null,
        lagMs: rec.seenFinalAt !== null && r?.final_at ? rec.seenFinalAt - r.final_at : null,
      };
    });
    const loopFinal = loopRows.filter((r) => FINAL.has(r.status));
    const loopLag = stats(loopFinal.map((r) => r.lagMs));
    const loopChecks = loopRows.reduce((a, r) => a + r.checks, 0);

    const mismatches = {
      kit: kitFinal.filter((r) => r.status !== r.serverStatus).length,
      loop: loopFinal.filter((r) => r.status !== r.serverStatus).length,
    };
    const unresolved = { kit: N - kitFinal.length, loop: N - loopFinal.length };

    const kitCallsPerOrder = kitChecks / N;
    const loopCallsPerOrder = loopChecks / N;
    const target = {
      kitCallsPerOrder: { value: kitCallsPerOrder, limit: 3, pass: kitCallsPerOrder <= 3 },
      kitLagMean: { value: kitLag.mean, limit: loopLag.mean, pass: kitLag.mean !== null && loopLag.mean !== null && kitLag.mean <= loopLag.mean },
      kitLagP95: { value: kitLag.p95, limit: loopLag.p95, pass: kitLag.p95 !== null && loopLag.p95 !== null && kitLag.p95 <= loopLag.p95 },
    };
    const pass = Object.values(target).every((t) => t.pass);

    // ---- diagnostics
    const allOpenIntervals = kitRows.flatMap((r) => r.openIntervals);
    const tickStats = {
      ticksWithDue: ticks.length,
      ticksWithList: ticks.filter((t) => t.lists > 0).length,
      duePerTick: stats(ticks.map((t) => t.due)),
      listPagesPerListTick: stats(ticks.filter((t) => t.lists > 0).map((t) => t.lists)),
      checkIdsPerTick: stats(ticks.map((t) => t.checkIds)),
      tickMs: stats(ticks.map((t) => t.ms)),
      ticksFallingBackToChecks: ticks.filter((t) => t.lists === 0 && t.checkIds > 0).length,
    };
    const timeToFinal = stats(rows.filter((r) => r.final_at).map((r) => r.final_at - r.created_at));

    result = {
      bench: 'merchant-sync',
      at: new Date(t00).toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, platform: process.platform },
      config: {
        orders: N, spreadS: SPREAD_MS / 1000, sendMode: SPREAD_MS === 0 ? 'all at once' : `one kit + one fixed-loop send every ${round(gap, 2)} ms over ${SPREAD_MS / 1000} s`,
        kitTickMs: TICK_MS, kitSchedule: SCHEDULE ?? DEFAULT_SCHEDULE, kitScheduleIsDefault: !SCHEDULE, guide: { intervalMs: GUIDE_INTERVAL_MS, maxAttempts: GUIDE_MAX_ATTEMPTS },
        server: { rateLimit: 0, processorConcurrency: CONCURRENCY, simulator: JSON.parse(readFileSync(simPath, 'utf8')), plan: PLAN, amount: AMOUNT },
        merchants: 'one per contender (kit, fixed loop)',
      },
      durationS: (endAt - t0) / 1000,
      sendsS: (sendsDoneAt - t0) / 1000,
      kitAllFinalS: kitDoneAt ? (kitDoneAt - t0) / 1000 : null,
      serverTimeToFinalMs: timeToFinal,
      kit: {
        experiment: EXPERIMENT, sightingsApplied,
        apiCalls: kit.apiCalls, sends: kitHttp.counts.send, callsPerOrder: kitCallsPerOrder, callsPerOrderWithSends: kit.apiCalls / N,
        http: kitHttp.counts, final: kitFinal.length, unresolved: unresolved.kit, statusMismatches: mismatches.kit, sendErrors: sendErrors.kit,
        statuses: countBy(kitFinal.map((r) => r.status)),
        lagMs: kitLag,
        seenLagMs: stats(kitFinal.map((r) => r.seenLagMs)),
        recordDelayMs: stats(kitFinal.map((r) => r.recordDelayMs)),
        sightingLagMs: stats(kitFinal.map((r) => r.sightingLagMs)),
        finalBeforeFirstLook: kitFinal.filter((r) => r.finalAfterFirstLookMs !== null && r.finalAfterFirstLookMs < 0).length,
        firstLookAfterSendMs: stats(kitRows.map((r) => r.firstLookMs)),
        looksPerOrder: stats(kitRows.map((r) => r.looks)),
        intervalBetweenLooksWhileOpenMs: stats(allOpenIntervals),
        intervalHistogram: histogram(allOpenIntervals, [0, 4000, 5000, 5500, 6000, 6500, 7000, 8000, 10000, 15000]),
        ticks: tickStats,
      },
      fixedLoop: {
        checks: loopChecks, sends: loopHttp.counts.send, callsPerOrder: loopCallsPerOrder, callsPerOrderWithSends: (loopChecks + loopHttp.counts.send) / N,
        http: loopHttp.counts, final: loopFinal.length, unresolved: unresolved.loop, statusMismatches: mismatches.loop, sendErrors: sendErrors.loop,
        statuses: countBy(loopFinal.map((r) => r.status)),
        lagMs: loopLag,
      },
      target: { ...target, pass },
      orders: {
        kit: kitRows.map((r) => [r.topupId, r.status, r.sentAt, r.finalAt, r.knownFinalAt, r.looks]),
        fixedLoop: loopRows.map((r) => [r.topupId, r.status, r.sentAt, r.finalAt, r.seenFinalAt, r.checks]),
        columns: { kit: ['topupId', 'status', 'sentAt', 'finalAt', 'knownFinalAt', 'looks'], fixedLoop: ['topupId', 'status', 'sentAt', 'finalAt', 'seenFinalAt', 'checks'] },
      },
    };
  } finally {
    try {
      await kit?.stop();
    } catch {
      /* best effort */
    }
    await kitStore?.close();
    const code = await server.stop();
    if (code !== 0 && code !== null) log(`shahn serve exited ${code}; stderr tail: ${server.stderr().slice(-2000)}`);
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
  return result;
}

function printTable(r) {
  const k = r.kit;
  const l = r.fixedLoop;
  const rows = [
    ['', 'kit (SyncKit)', 'fixed loop (guide)'],
    ['orders final / unresolved', `${k.final} / ${k.unresolved}`, `${l.final} / ${l.unresolved}`],
    ['calls per order (mean, w/o send)', k.callsPerOrder.toFixed(3), l.callsPerOrder.toFixed(3)],
    ['calls per order (with send)', k.callsPerOrderWithSends.toFixed(3), l.callsPerOrderWithSends.toFixed(3)],
    ['HTTP: list / check-id / check-ref', `${k.http.list} / ${k.http.checkId} / ${k.http.checkRef}`, `${l.http.list} / ${l.http.checkId} / ${l.http.checkRef}`],
    ['lag mean', sec(k.lagMs.mean), sec(l.lagMs.mean)],
    ['lag p50', sec(k.lagMs.p50), sec(l.lagMs.p50)],
    ['lag p95', sec(k.lagMs.p95), sec(l.lagMs.p95)],
    ['lag max', sec(k.lagMs.max), sec(l.lagMs.max)],
  ];
  const w = [0, 1, 2].map((c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('   ');
  const out = [];
  out.push('');
  if (k.experiment) out.push(`EXPERIMENT "${k.experiment}" (not the kit as shipped): ${k.sightingsApplied} final statuses applied from list pages`);
  out.push(`merchant-sync: ${r.config.orders} + ${r.config.orders} production orders, ${r.config.sendMode}; simulator 5–30 s, timeout weight 0`);
  out.push(line(rows[0]));
  out.push(w.map((x) => '-'.repeat(x)).join('   '));
  for (const row of rows.slice(1)) out.push(line(row));
  out.push('');
  out.push(`kit diagnostics: first look ${sec(k.firstLookAfterSendMs.mean)} after send (mean); interval between looks while open mean ${sec(k.intervalBetweenLooksWhileOpenMs.mean)}, p50 ${sec(k.intervalBetweenLooksWhileOpenMs.p50)}, p95 ${sec(k.intervalBetweenLooksWhileOpenMs.p95)}`);
  out.push(`  lag when the answer of its own look arrived: mean ${sec(k.seenLagMs.mean)}, p95 ${sec(k.seenLagMs.p95)}; answer → recorded: mean ${sec(k.recordDelayMs.mean)}, max ${sec(k.recordDelayMs.max)}`);
  out.push(`  final status already on a list page it fetched (not due, so not applied): lag mean ${sec(k.sightingLagMs.mean)}, p95 ${sec(k.sightingLagMs.p95)}; orders final before the kit's first look: ${k.finalBeforeFirstLook}`);
  out.push(`  ticks with due orders ${k.ticks.ticksWithDue} (with a list ${k.ticks.ticksWithList}; pages per list tick mean ${round(k.ticks.listPagesPerListTick.mean)}, max ${k.ticks.listPagesPerListTick.max}); pollOnce mean ${round(k.ticks.tickMs.mean, 0)} ms, max ${k.ticks.tickMs.max} ms`);
  out.push(`  server time to final: mean ${sec(r.serverTimeToFinalMs.mean)}, p95 ${sec(r.serverTimeToFinalMs.p95)}, max ${sec(r.serverTimeToFinalMs.max)}; run ${r.durationS.toFixed(0)} s`);
  out.push('');
  const t = r.target;
  out.push(`target: kit calls/order ≤ 3 ............ ${t.kitCallsPerOrder.pass ? 'PASS' : 'FAIL'} (${t.kitCallsPerOrder.value.toFixed(3)})`);
  out.push(`        kit lag mean ≤ fixed loop's .... ${t.kitLagMean.pass ? 'PASS' : 'FAIL'} (${sec(t.kitLagMean.value)} vs ${sec(t.kitLagMean.limit)})`);
  out.push(`        kit lag p95 ≤ fixed loop's ..... ${t.kitLagP95.pass ? 'PASS' : 'FAIL'} (${sec(t.kitLagP95.value)} vs ${sec(t.kitLagP95.limit)})`);
  out.push(`overall: ${t.pass ? 'PASS' : 'FAIL'}`);
  process.stdout.write(out.join('\n') + '\n');
}

const watchdog = setTimeout(() => {
  log('watchdog: the run took too long; killing children');
  killChildren();
  process.exit(2);
}, DEADLINE_MS + 120_000);
watchdog.unref();

try {
  const r = await main();
  mkdirSync(join(OUT, '..'), { recursive: true });
  writeFileSync(OUT, JSON.stringify(r, null, 2) + '\n');
  printTable(r);
  log(`results: ${OUT}`);
  const broke = r.kit.unresolved > 0 || r.fixedLoop.unresolved > 0 || r.kit.statusMismatches > 0 || r.fixedLoop.statusMismatches > 0;
  if (broke) log(`unresolved or mismatched orders: kit ${r.kit.unresolved}/${r.kit.statusMismatches}, fixed loop ${r.fixedLoop.unresolved}/${r.fixedLoop.statusMismatches}`);
  process.exitCode = broke ? 2 : r.target.pass ? 0 : 1;
} catch (err) {
  log(`run broke: ${err.stack ?? err}`);
  killChildren();
  process.exitCode = 2;
}
