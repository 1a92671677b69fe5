#!/usr/bin/env node
/**
 * check-id / send throughput benchmark of shahn against a plain node:http baseline.
 *
 *   npm run build && node bench/check-id.mjs [--orders N] [--duration S] [--warmup S] [--connections C]
 *                                             [--rounds R] [--merchants M] [--only baseline,check-id,poll,send] [--poll-orders N]
 *                                             [--quiet-wait S] [--access-log] [--no-processor] [--cpu-prof] [--rebuild]
 *                                             [--check-id-cache N]  (0: every check-id reads the store)
 *
 * One run: build (or reuse from bench/.cache/) a SQLite store of N orders, copy it to a temp dir,
 * start a baseline node:http server and `node bin/shahn.js serve` as child processes on loopback,
 * drive each with autocannon from this process, print a table and PASS/FAIL per target, and write
 * bench/results/latest.json. With --rounds R the three targets are measured R times in turn and the
 * medians are reported (ratios are taken within a round, then the median). Before each phase it
 * waits up to --quiet-wait seconds for other processes on the machine to go quiet; rounds in which
 * other processes still used >= 0.25 cores are left out of the medians when quiet rounds exist.
 * Exit code: 0 all targets pass, 1 a target fails, 2 the run broke.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync, copyFileSync, constants as fsc, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync,
  readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import {
  BENCH_BALANCE_DZD, BENCH_SHARE, BENCH_USERNAME, MESSAGES, NOISY_CORES, ROOT, SAMPLE_IDS, SANDBOX_SHARE, cannon, col, dist, envWithoutShahn,
  gitInfo, intArg, killChildrenNow, loadAutocannon, median, orderId, percentile, printHeaderComment, procCpu, round, runMain, startBaseline,
  stopChild, sysCpu, waitForFile, waitQuiet,
} from './lib.mjs';

await loadAutocannon();
// The compiled server (npm run build).
const { openSqliteStore } = await dist('store/sqlite/open-sqlite-store.js');
const { prepareStore } = await dist('runtime/open-store.js');
const { createMerchant } = await dist('domain/create-merchant.js');
const { MIGRATIONS } = await dist('store/migrations.js');
const { chargeCentimes } = await dist('lib/money.js');
const { hashApiKey } = await dist('lib/ids.js');
// The simulator's seeded generator: the same rows on every run.
const { seededRandom: mulberry32 } = await dist('gateways/operator-simulator.js');
const { DEFAULT_CATALOGUE_PATH } = await dist('catalogue/load-catalogue-file.js');

const CACHE_DIR = join(ROOT, 'bench', '.cache');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
/** Bump when the generated data changes; the schema and the catalogue are hashed in as well. */
const GENERATOR_VERSION = 'gen-4';
const TARGETS = { checkIdRatio: 0.6, checkIdP99Ms: 10, sendRatio: 0.25 };
/** The phases, in the order they run: poll = check-id of orders still open, as merchants poll (see README). */
const PHASES = ['baseline', 'check-id', 'poll', 'send'];

// ---------------------------------------------------------------- arguments

const { values: args } = parseArgs({
  options: {
    orders: { type: 'string', default: '1000000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '1' },
    'quiet-wait': { type: 'string', default: '20' },
    merchants: { type: 'string', default: '1000' },
    only: { type: 'string', default: 'baseline,check-id,poll,send' },
    'poll-orders': { type: 'string', default: '3000' },
    'access-log': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    'check-id-cache': { type: 'string' },
    'no-processor': { type: 'boolean', default: false },
    rebuild: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (args.help) {
  printHeaderComment(import.meta.url);
  process.exit(0);
}
const ORDERS = intArg(args, 'orders', 1_000, 20_000_000);
const DURATION = intArg(args, 'duration', 1, 600);
const WARMUP = intArg(args, 'warmup', 0, 60);
const CONNECTIONS = intArg(args, 'connections', 1, 1024);
const MERCHANTS = intArg(args, 'merchants', 1, 100_000);
const ROUNDS = intArg(args, 'rounds', 1, 10);
const POLL_ORDERS = intArg(args, 'poll-orders', 1, 100_000);
const QUIET_WAIT = intArg(args, 'quiet-wait', 0, 120);
const ONLY = new Set(args.only.split(',').map((s) => s.trim()).filter(Boolean));
for (const name of ONLY) {
  if (!['baseline', 'check-id', 'poll', 'send'].includes(name)) {
    console.error(`--only takes baseline, check-id, poll and/or send, got "${name}"`);
    process.exit(2);
  }
}
const ACCESS_LOG = args['access-log'];
const CPU_PROF = args['cpu-prof'];
/** SHAHN_CHECK_ID_CACHE for the server (FULFILLED orders answered without a store read); 0 = every check-id reads SQLite. */
const CHECK_ID_CACHE = args['check-id-cache'] === undefined ? undefined : String(intArg(args, 'check-id-cache', 0, 10_000_000));
const NO_PROCESSOR = args['no-processor'];

// ---------------------------------------------------------------- children and cleanup

const children = new Set();
let tmpDir;
let cleaningUp = false;

async function cleanup() {
  if (cleaningUp) return;
  cleaningUp = true;
  await Promise.all([...children].map((c) => stopChild(children, c, 5_000)));
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
}
process.on('exit', () => {
  killChildrenNow(children);
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping children`);
    cleanup().finally(() => process.exit(130));
  });
}

// A hard bound on the whole run: build + start-up + every phase, with room to spare.
const phases = PHASES.filter((p) => ONLY.has(p)).length;
const HARD_LIMIT_MS = (30 * 60 + ROUNDS * phases * (WARMUP + DURATION + QUIET_WAIT + 60) + 120) * 1000;
setTimeout(() => {
  console.error(`benchmark exceeded its hard limit of ${Math.round(HARD_LIMIT_MS / 1000)} s; killing children`);
  killChildrenNow(children);
  process.exit(2);
}, HARD_LIMIT_MS).unref();

const log = (...a) => console.log(...a);

// ---------------------------------------------------------------- data generation


function cacheKey() {
  const h = createHash('sha256');
  h.update(GENERATOR_VERSION);
  for (const m of MIGRATIONS) h.update(`${m.version}:${m.sqlite}`);
  h.update(readFileSync(DEFAULT_CATALOGUE_PATH));
  h.update(`${ORDERS}:${MERCHANTS}:${BENCH_SHARE}:${SANDBOX_SHARE}:${SAMPLE_IDS}`);
  return `${GENERATOR_VERSION}-o${ORDERS}-m${MERCHANTS}-${h.digest('hex').slice(0, 12)}`;
}

async function buildStore(dbPath) {
  const t0 = performance.now();
  const rnd = mulberry32(20_260_101);
  const clock = { now: () => Date.now() };

  // Schema and catalogue through shahn itself; the benchmarked merchant through createMerchant (real keys).
  const store = openSqliteStore(dbPath);
  await prepareStore(store);
  const bench = await createMerchant({ store, clock }, { username: BENCH_USERNAME, balance: BENCH_BALANCE_DZD });
  const plans = (await store.catalogue.listPlans()).filter((p) => p.isEnabled);
  const operators = new Map((await store.catalogue.listOperators()).map((o) => [o.name, o]));
  await store.close();

  const db = new Database(dbPath);
  db.pragma('journal_mode = OFF'); // a throw-away build: no rollback journal, no fsync
  db.pragma('synchronous = OFF');
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('cache_size = -524288'); // 512 MiB page cache during the build
  db.pragma('temp_store = MEMORY');

  // Other merchants: balance 0 (the merchant_starts_at_zero trigger), two keys each like real ones.
  const now = Date.now();
  const merchantIds = [];
  const insertMerchant = db.prepare('INSERT INTO merchants (id, username, balance, created_at) VALUES (?, ?, 0, ?)');
  const insertKey = db.prepare(`INSERT INTO api_keys (id, merchant_id, key_hash, type, scope, is_enabled, allowed_ips, created_at)
                                VALUES (?, ?, ?, ?, 'READ-WRITE', 1, '[]', ?)`);
  db.transaction(() => {
    for (let m = 1; m < MERCHANTS; m++) {
      const createdAt = now - 400 * 86_400_000 + m * 1000;
      const id = Math.floor(createdAt / 1000).toString(16).padStart(8, '0') + 'a1' + m.toString(16).padStart(14, '0');
      insertMerchant.run(id, `+21366${String(m).padStart(7, '0')}`, createdAt);
      for (const type of ['SANDBOX', 'PRODUCTION']) {
        insertKey.run(id + type[0], id, hashApiKey(`bench-${id}-${type}`), type, createdAt);
      }
      merchantIds.push(id);
    }
  })();

  // Orders: a year of history, increasing created_at and ids (as a live system writes them). Every
  // production order is final (processed long ago), so the order processor finds nothing to claim;
  // the processor's bookkeeping columns are filled when the schema has them.
  const columns = new Set(db.prepare('PRAGMA table_info(orders)').all().map((c) => c.name));
  const processed = ['attempts', 'call_started_at', 'final_at'].every((c) => columns.has(c));
  const insertOrder = db.prepare(`INSERT INTO orders
    (id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at,
     refund_message, suggested_offers, follow_orderid, retry_orderid, sandbox_scenario${processed ? ', attempts, call_started_at, final_at' : ''})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?${processed ? ', ?, ?, ?' : ''})`);
  const nonMenu = plans.filter((p) => !p.isMenu);
  const start = now - 365 * 86_400_000;
  const step = (365 * 86_400_000 - 3_600_000) / ORDERS;
  const seq = new Map();
  const sample = []; // reservoir of the bench merchant's production order ids
  let benchProd = 0;
  const counts = { PRODUCTION: 0, SANDBOX: 0, bench: { PRODUCTION: 0, SANDBOX: 0 }, status: {} };
  const BATCH = 100_000;
  const insertBatch = db.transaction((from, to) => {
    for (let i = from; i < to; i++) {
      const createdAt = Math.floor(start + i * step + rnd() * step);
      const isBench = rnd() < BENCH_SHARE;
      const merchantId = isBench || merchantIds.length === 0 ? bench.id : merchantIds[Math.floor(rnd() * merchantIds.length)];
      const env = rnd() < SANDBOX_SHARE ? 'SANDBOX' : 'PRODUCTION';
      const plan = env === 'SANDBOX' ? plans[Math.floor(rnd() * plans.length)] : nonMenu[Math.floor(rnd() * nonMenu.length)];
      const op = operators.get(plan.operator);
      const mssidn = op.prefixes[0] + String(Math.floor(rnd() * 1e8)).padStart(8, '0');
      const amountDzd = plan.kind === 'fixed'
        ? plan.amount
        : Math.min(plan.maxAmount, plan.minAmount + Math.floor(rnd() * Math.min(2000, plan.maxAmount - plan.minAmount + 1)));
      const topup = amountDzd * 100;
      const charge = chargeCentimes(topup, plan.costPpm);
      const k = `${merchantId}:${env}`;
      const n = (seq.get(k) ?? 0) + 1;
      seq.set(k, n);
      const ref = rnd() < 0.5 ? `INV-${n}` : `API-${merchantId.slice(-6)}-${env === 'SANDBOX' ? 'test-' : ''}${createdAt}-${n.toString(16)}`;
      let status, refundMessage = null, scenario = null;
      if (env === 'SANDBOX') {
        status = 'PENDING'; // sandbox status is derived from the clock at read time
        scenario = plan.isMenu ? 'MENU' : 'FULFILLED';
      } else {
        const r = rnd();
        if (r < 0.9) status = 'FULFILLED';
        else if (r < 0.99) { status = 'REFUNDED'; refundMessage = MESSAGES.WRONG_NUMBER; }
        else { status = 'UNKNOWN_ERROR'; refundMessage = MESSAGES.UNKNOWN_NOTICE; }
      }
      const id = orderId(createdAt, i);
      const updatedAt = createdAt + 1000 + Math.floor(rnd() * 60_000);
      const row = [id, merchantId, env, ref, status, plan.code, mssidn, topup, charge, createdAt, updatedAt, refundMessage, null, null, null, scenario];
      if (processed) {
        if (env === 'PRODUCTION') row.push(1, createdAt + 200, status === 'UNKNOWN_ERROR' ? null : updatedAt);
        else row.push(0, null, null);
      }
      insertOrder.run(...row);
      counts[env]++;
      counts.status[status] = (counts.status[status] ?? 0) + 1;
      if (merchantId === bench.id) {
        counts.bench[env]++;
        if (env === 'PRODUCTION') {
          benchProd++;
          if (sample.length < SAMPLE_IDS) sample.push(id);
          else {
            const j = Math.floor(rnd() * benchProd);
            if (j < SAMPLE_IDS) sample[j] = id;
          }
        }
      }
    }
  });
  for (let from = 0; from < ORDERS; from += BATCH) {
    insertBatch(from, Math.min(ORDERS, from + BATCH));
    const done = `  orders: ${Math.min(ORDERS, from + BATCH).toLocaleString('en')} / ${ORDERS.toLocaleString('en')}`;
    if (process.stdout.isTTY) process.stdout.write(`\r${done}`);
    else if (from + BATCH >= ORDERS) process.stdout.write(done);
  }
  process.stdout.write('\n');
  const plan = db.prepare('EXPLAIN QUERY PLAN SELECT * FROM orders WHERE id = ? AND merchant_id = ? AND env = ?').all('x', 'y', 'PRODUCTION');
  db.pragma('locking_mode = NORMAL');
  db.pragma('journal_mode = WAL'); // as shahn runs it
  db.close();

  // Shuffle so consecutive requests hit unrelated pages.
  for (let i = sample.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [sample[i], sample[j]] = [sample[j], sample[i]];
  }
  return {
    bench,
    sampleIds: sample,
    counts,
    merchants: MERCHANTS,
    checkIdQueryPlan: plan.map((r) => r.detail),
    buildSeconds: (performance.now() - t0) / 1000,
  };
}

/** The cached store for these parameters, built when missing. Returns a private copy for this run. */
async function storeForRun() {
  const key = cacheKey();
  const cachedDb = join(CACHE_DIR, `${key}.db`);
  const cachedMeta = join(CACHE_DIR, `${key}.json`);
  let meta;
  if (!args.rebuild && existsSync(cachedDb) && existsSync(cachedMeta)) {
    meta = JSON.parse(readFileSync(cachedMeta, 'utf8'));
    if (meta.dbBytes !== statSync(cachedDb).size) meta = undefined;
  }
  if (meta) {
    log(`store: cached ${cachedDb}`);
  } else {
    log(`store: building ${ORDERS.toLocaleString('en')} orders over ${MERCHANTS} merchants (cache key ${key})`);
    const buildDir = mkdtempSync(join(os.tmpdir(), 'shahn-bench-build-'));
    try {
      const buildDb = join(buildDir, 'orders.db');
      meta = await buildStore(buildDb);
      meta.key = key;
      meta.orders = ORDERS;
      meta.dbBytes = statSync(buildDb).size;
      mkdirSync(CACHE_DIR, { recursive: true });
      copyFileSync(buildDb, `${cachedDb}.tmp`);
      renameSync(`${cachedDb}.tmp`, cachedDb);
      writeFileSync(cachedMeta, JSON.stringify(meta));
      log(`store: built in ${meta.buildSeconds.toFixed(1)} s, ${(meta.dbBytes / 2 ** 20).toFixed(0)} MiB, cached as ${cachedDb}`);
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
    // Drop stale cache files: other generator versions, and this size built from an older schema or catalogue.
    const sameSize = `-o${ORDERS}-m${MERCHANTS}-`;
    for (const f of readdirSync(CACHE_DIR)) {
      if (!/\.(db|json|tmp)$/.test(f) || f.startsWith(key)) continue;
      if (!f.startsWith(`${GENERATOR_VERSION}-`) || f.includes(sameSize)) rmSync(join(CACHE_DIR, f), { force: true });
    }
  }
  tmpDir = mkdtempSync(join(os.tmpdir(), 'shahn-bench-'));
  const dbPath = join(tmpDir, 'shahn.db');
  copyFileSync(cachedDb, dbPath, fsc.COPYFILE_FICLONE); // send writes: never touch the cached copy
  return { dbPath, meta };
}

// ---------------------------------------------------------------- processes

function shahnEnv(dbPath) {
  return {
    ...envWithoutShahn(),
    SHAHN_DB: dbPath,
    PORT: '0',
    HOST: '127.0.0.1',
    SHAHN_RATE_LIMIT: '0', // 64 connections on one key would otherwise be rate limited (default 100/s)
    SHAHN_LOG_LEVEL: ACCESS_LOG ? 'info' : 'warn',
    SHAHN_ACCESS_LOG: ACCESS_LOG ? 'true' : 'false',
    SHAHN_DEMO: 'false',
    // serve's default: the order processor runs in the process (its simulated operator calls take 5-30 s,
    // so during a run it holds at most 64 orders and costs a wake-up per send). --no-processor turns it off.
    SHAHN_PROCESSOR: NO_PROCESSOR ? 'false' : 'true',
    // Do not wait for simulated calls in flight at shutdown.
    SHAHN_SHUTDOWN_GRACE_MS: '3000',
    ...(CHECK_ID_CACHE !== undefined ? { SHAHN_CHECK_ID_CACHE: CHECK_ID_CACHE } : {}),
  };
}

async function startShahn(dbPath) {
  const out = join(tmpDir, 'shahn.out');
  const fd = openSync(out, 'w');
  const profDir = join(RESULTS_DIR, 'cpuprof');
  if (CPU_PROF) mkdirSync(profDir, { recursive: true });
  const nodeArgs = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const env = shahnEnv(dbPath);
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin', 'shahn.js'), 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', fd, fd], // stdout (and the access log, when on) goes to a file, not through this process
  });
  closeSync(fd);
  children.add(child);
  const m = await waitForFile(out, /listening on (http:\/\/127\.0\.0\.1:\d+)/, child, 60_000, 'shahn');
  const shown = Object.fromEntries(Object.entries(env).filter(([k]) => /^(SHAHN_.*|PORT|HOST)$/.test(k)));
  return { child, url: m[1], out, profDir, env: shown };
}

// ---------------------------------------------------------------- load

async function phase(name, url, requestOpts, serverPid) {
  // Wait (bounded) until the rest of the machine uses less than 0.25 of a core; our children are idle now.
  const idleOther = await waitQuiet(QUIET_WAIT);
  process.stdout.write(`  ${name}: ${idleOther !== null && idleOther >= 0.25 ? `(machine not quiet after ${QUIET_WAIT} s: ${idleOther} cores busy elsewhere) ` : ''}`);
  if (WARMUP > 0) {
    process.stdout.write(`warm-up ${WARMUP} s … `);
    await cannon({ url, connections: CONNECTIONS, duration: WARMUP, ...requestOpts }, false);
  }
  process.stdout.write(`measuring ${DURATION} s … `);
  const cpu0 = procCpu(serverPid);
  const me0 = process.cpuUsage();
  const sys0 = sysCpu();
  const t0 = performance.now();
  const { res, lat, status } = await cannon({ url, connections: CONNECTIONS, duration: DURATION, ...requestOpts }, true);
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = procCpu(serverPid);
  const me1 = process.cpuUsage(me0);
  const sys1 = sysCpu();

  const sorted = Float64Array.from(lat).sort();
  const ok = res['2xx'];
  const seconds = res.duration;
  const rps = ok / seconds;
  const serverCpuS = cpu0 === null || cpu1 === null ? null : cpu1 - cpu0;
  const loadgenCpuS = (me1.user + me1.system) / 1e6;
  let machine = null;
  if (sys0 && sys1) {
    const cores = os.cpus().length;
    const total = sys1.total - sys0.total;
    const busyCores = ((sys1.busy - sys0.busy) / total) * cores;
    machine = {
      otherBefore: idleOther,
      busyCores: round(busyCores, 2),
      stealPct: round(((sys1.steal - sys0.steal) / total) * 100, 1),
      otherCores: serverCpuS === null ? null : round(busyCores - (serverCpuS + loadgenCpuS) / wall, 2),
    };
  }
  const r = {
    name,
    requestsPerSec: round(rps, 0),
    ok,
    non2xx: res.non2xx,
    errors: res.errors,
    timeouts: res.timeouts,
    statusCodes: status,
    seconds,
    latencyMs: {
      p50: round(percentile(sorted, 50), 2),
      p90: round(percentile(sorted, 90), 2),
      p99: round(percentile(sorted, 99), 2),
      max: round(sorted[sorted.length - 1], 2),
      mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length, 2),
    },
    autocannon: { requestsAverage: res.requests.average, latencyP50: res.latency.p50, latencyP99: res.latency.p99 },
    bytesPerResponse: round(res.throughput.total / Math.max(1, res.requests.total), 0),
    serverCpuCores: serverCpuS === null ? null : round(serverCpuS / wall, 2),
    serverCpuUsPerRequest: serverCpuS === null ? null : round((serverCpuS * 1e6) / Math.max(1, res.requests.total), 0),
    loadgenCpuCores: round(loadgenCpuS / wall, 2),
    machine,
  };
  log(`${r.requestsPerSec} req/s, p99 ${r.latencyMs.p99} ms${r.non2xx || r.errors ? `  (non-2xx ${r.non2xx}, errors ${r.errors})` : ''}`);
  return r;
}

// ---------------------------------------------------------------- cpu profile summary

function summarizeProfile(file, top = 30) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = prof.timeDeltas;
  for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0));
  const all = dt.reduce((a, b) => a + b, 0);
  let idle = 0;
  for (const [id, us] of self) if (byId.get(id).callFrame.functionName === '(idle)') idle += us;
  const total = all - idle; // percentages are of the time the server was busy
  const fn = new Map();
  const pkg = new Map();
  for (const [id, us] of self) {
    const { callFrame: cf } = byId.get(id);
    if (cf.functionName === '(idle)') continue;
    const where = cf.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(ROOT, '');
    const key = `${cf.functionName || '(anonymous)'}  ${where}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where);
    const group = m ? m[1] : where.startsWith('dist/') || where.startsWith('/dist/') ? 'shahn (dist/)' : where.startsWith('node:') ? 'node core' : cf.functionName.startsWith('(') ? cf.functionName : where || `(native) ${cf.functionName}`;
    pkg.set(group, (pkg.get(group) ?? 0) + us);
  }
  const pct = (us) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  log(`\nCPU profile ${file} (${(all / 1e6).toFixed(1)} s sampled, ${(total / 1e6).toFixed(1)} s busy; percentages of busy time)`);
  log('  self time by package / area:');
  for (const [k, us] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, 15)) log(`   ${pct(us)}  ${k}`);
  log(`  top ${top} functions by self time:`);
  for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) log(`   ${pct(us)}  ${k}`);
}

// ---------------------------------------------------------------- main

async function main() {
  const git = gitInfo();
  log(`shahn bench: ${git ? `commit ${git.commit}${git.srcChanged ? ' (with uncommitted changes in src/ or packages/)' : ''}, ` : ''}node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  const { dbPath, meta } = await storeForRun();
  log(`store: ${meta.orders.toLocaleString('en')} orders (${meta.counts.PRODUCTION.toLocaleString('en')} production), ${meta.merchants} merchants; `
    + `benchmarked merchant has ${meta.counts.bench.PRODUCTION.toLocaleString('en')} production orders, check-id rotates over ${meta.sampleIds.length.toLocaleString('en')} of them`);
  log(`store: check-id query plan: ${meta.checkIdQueryPlan.join(' | ')}`);

  const shahn = await startShahn(dbPath);
  log(`shahn: ${shahn.url} (pid ${shahn.child.pid})  env: ${Object.entries(shahn.env).map(([k, v]) => `${k}=${k === 'SHAHN_DB' ? '<temp copy>' : v}`).join(' ')}`);
  log(`shahn: logging: ${ACCESS_LOG ? 'level info + one access-log line per request, written to a file' : 'level warn, access log off (SHAHN_ACCESS_LOG=false): no per-request log I/O'}; rate limiter off (SHAHN_RATE_LIMIT=0); order processor ${NO_PROCESSOR ? 'off' : 'on (in process, as serve runs by default)'}${CPU_PROF ? '; node --cpu-prof on (figures are not comparable)' : ''}`);

  const key = meta.bench.productionKey;
  const headers = { 'x-access-token': key };
  // Sanity: one check-id and one send must succeed before any load.
  const probe = await fetch(`${shahn.url}/v3/mobile/check-id/${meta.sampleIds[0]}`, { headers });
  const probeBody = await probe.text();
  if (probe.status !== 200) throw new Error(`check-id probe answered ${probe.status}: ${probeBody}`);
  const probeSend = await fetch(`${shahn.url}/v3/mobile/send`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0770000000', amount: 500, ref: `bench-probe-${Date.now()}` }),
  });
  const probeSendBody = await probeSend.text();
  if (probeSend.status !== 200) throw new Error(`send probe answered ${probeSend.status}: ${probeSendBody}`);

  const baseline = ONLY.has('baseline') ? await startBaseline(probeBody, probe.headers.get('x-request-id') ?? '', { dir: tmpDir, children }) : null;
  if (baseline) log(`baseline: ${baseline.url} (pid ${baseline.child.pid}), node:http answering the same ${Buffer.byteLength(probeBody)}-byte check-id body`);
  log(`load: autocannon ${CONNECTIONS} connections from this process (pid ${process.pid}), ${WARMUP} s warm-up then ${DURATION} s measured per target\n`);

  // check-id (and the baseline, so the load generator does the same work) rotate over the sample ids.
  const ids = meta.sampleIds;
  let next = 0;
  const checkIdRequest = {
    headers,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/v3/mobile/check-id/${ids[next++ % ids.length]}` }) }],
  };
  const runTag = Date.now().toString(36);
  let sendSeq = 0;
  const sendRequest = {
    headers: { ...headers, 'content-type': 'application/json' },
    requests: [{
      method: 'POST',
      path: '/v3/mobile/send',
      setupRequest: (req) => {
        const n = sendSeq++;
        return {
          ...req,
          body: `{"plan_code":"PREPAID_DJEZZY","MSSIDN":"07${String(n % 1e8).padStart(8, '0')}","amount":500,"ref":"bench-${runTag}-${n}"}`,
        };
      },
    }],
  };

  // poll: check-id over production orders sent just before the phase and still open (PENDING, HANDLING):
  // the processor (5-30 s per simulated call) changes them while they are polled.
  let pollIds = [];
  let pollNext = 0;
  const pollRequest = {
    headers,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/v3/mobile/check-id/${pollIds[pollNext++ % pollIds.length]}` }) }],
  };
  async function sendOpenOrders(url, n, tag) {
    const out = [];
    for (let i = 0; i < n; i += 64) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(64, n - i) }, async (_, j) => {
          const res = await fetch(`${url}/v3/mobile/send`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0770000001', amount: 100, ref: `${tag}-${i + j}` }),
          });
          const body = await res.json();
          if (res.status !== 200) throw new Error(`poll set-up send answered ${res.status}: ${JSON.stringify(body)}`);
          return body.data.topupId;
        }),
      );
      out.push(...batch);
    }
    return out;
  }

  const rounds = [];
  for (let i = 1; i <= ROUNDS; i++) {
    if (ROUNDS > 1) log(`  round ${i} of ${ROUNDS}`);
    const r = {};
    if (baseline) r.baseline = await phase('baseline', baseline.url, checkIdRequest, baseline.child.pid);
    if (ONLY.has('check-id')) r['check-id'] = await phase('check-id', shahn.url, checkIdRequest, shahn.child.pid);
    if (ONLY.has('poll')) {
      // Fresh open orders each round, polled while the in-process processor claims, calls and settles them.
      pollIds = await sendOpenOrders(shahn.url, POLL_ORDERS, `poll-${runTag}-${i}`);
      r.poll = await phase('poll', shahn.url, pollRequest, shahn.child.pid);
    }
    if (ONLY.has('send')) r.send = await phase('send', shahn.url, sendRequest, shahn.child.pid);
    // Ratios are paired within a round, so a slow minute hits both sides.
    r.ratios = Object.fromEntries(
      PHASES.filter((n) => n !== 'baseline').map((n) => [n, r.baseline && r[n] ? round(r[n].requestsPerSec / r.baseline.requestsPerSec, 3) : null]),
    );
    // A round is noisy when other processes used a quarter core or more during one of its phases.
    r.noisy = PHASES.some((n) => r[n] && (r[n].machine?.otherCores ?? 0) >= NOISY_CORES);
    rounds.push(r);
  }
  // Medians over the quiet rounds when there are any (all rounds otherwise).
  const clean = rounds.filter((r) => !r.noisy);
  const used = clean.length > 0 ? clean : rounds;

  if (baseline) await stopChild(children, baseline.child, 15_000);
  await stopChild(children, shahn.child, 15_000);
  // With the processor on, simulated operator calls (5-30 s) are still in flight at shutdown: the
  // server then exits 1 after SHAHN_SHUTDOWN_GRACE_MS. That is expected here and not reported.
  const GRACE_OVER = /shutdown grace period over/;
  const shahnOut = readFileSync(shahn.out, 'utf8');
  const expectedExit = shahn.child.exitCode === 1 && !NO_PROCESSOR && GRACE_OVER.test(shahnOut);
  if (shahn.child.exitCode !== 0 && !expectedExit) log(`(shahn exited with ${shahn.child.exitCode ?? shahn.child.signalCode})`);
  // Anything the server logged at warn or above is worth a look, except the support alerts for the
  // UNKNOWN_ERROR outcomes the operator simulator produces on purpose (counted only).
  let simulatorAlerts = 0;
  const serverLines = shahnOut.split('\n').filter((l) => {
    if (!l.startsWith('{')) return /error|warn|fail/i.test(l);
    try {
      const j = JSON.parse(l);
      if (j.alert === 'order.unknown_error') {
        simulatorAlerts++;
        return false;
      }
      return j.level >= 40 && !GRACE_OVER.test(j.msg ?? '');
    } catch {
      return true;
    }
  });
  if (simulatorAlerts > 0) log(`(processor: ${simulatorAlerts} UNKNOWN_ERROR alert(s) from simulated operator outcomes, as designed)`);
  if (serverLines.length > 0) {
    log(`server output (${serverLines.length} line(s), last 5):`);
    for (const l of serverLines.slice(-5)) log(`  ${l.length > 300 ? `${l.slice(0, 300)}…` : l}`);
  }

  // ---- medians over the rounds
  const results = {};
  for (const name of PHASES) {
    const rs = used.map((r) => r[name]).filter(Boolean);
    if (rs.length === 0) continue;
    results[name] = {
      name,
      requestsPerSec: round(median(rs.map((r) => r.requestsPerSec)), 0),
      latencyMs: {
        p50: round(median(rs.map((r) => r.latencyMs.p50)), 2),
        p99: round(median(rs.map((r) => r.latencyMs.p99)), 2),
      },
      serverCpuCores: round(median(rs.map((r) => r.serverCpuCores)), 2),
      serverCpuUsPerRequest: round(median(rs.map((r) => r.serverCpuUsPerRequest)), 0),
      bytesPerResponse: round(median(rs.map((r) => r.bytesPerResponse)), 0),
      failed: rs.reduce((a, r) => a + r.non2xx + r.errors + r.timeouts, 0),
      otherCores: round(median(rs.map((r) => r.machine?.otherCores)), 2),
    };
  }
  const ratioOf = { baseline: results.baseline ? 1 : null };
  for (const n of PHASES.filter((x) => x !== 'baseline')) ratioOf[n] = round(median(used.map((r) => r.ratios[n])), 2);
  const ratios = { checkId: ratioOf['check-id'], poll: ratioOf.poll, send: ratioOf.send };

  // ---- table and targets
  const header = `${'target'.padEnd(10)}${col('req/s', 9)}${col('p50 ms', 9)}${col('p99 ms', 9)}${col('x base', 8)}${col('srv CPU', 9)}${col('us/req', 8)}${col('bytes', 7)}${col('failed', 8)}${col('noise', 7)}`;
  const line = (r, ratio) =>
    `${r.name.padEnd(10)}${col(r.requestsPerSec, 9)}${col(r.latencyMs.p50?.toFixed(2), 9)}${col(r.latencyMs.p99?.toFixed(2), 9)}`
    + `${col(ratio?.toFixed(2), 8)}${col(r.serverCpuCores?.toFixed(2), 9)}${col(r.serverCpuUsPerRequest, 8)}${col(r.bytesPerResponse, 7)}`
    + `${col(r.failed ?? r.non2xx + r.errors + r.timeouts, 8)}${col((r.otherCores ?? r.machine?.otherCores)?.toFixed(2), 7)}`;
  if (ROUNDS > 1) {
    for (const [i, r] of rounds.entries()) {
      log(`\nround ${i + 1}${r.noisy ? ` (noisy: other processes used >= ${NOISY_CORES} cores in a phase)` : ''}`);
      log(header);
      for (const name of PHASES) {
        if (r[name]) log(line(r[name], name === 'baseline' ? 1 : r.ratios[name]));
      }
    }
  }
  if (ROUNDS > 1) {
    log(clean.length > 0
      ? `\nmedian of the ${clean.length} quiet round(s) of ${ROUNDS}${clean.length < ROUNDS ? ` (${ROUNDS - clean.length} noisy round(s) left out)` : ''}`
      : `\nmedian of all ${ROUNDS} rounds (every round was noisy: treat these figures with care)`);
  } else log(rounds[0].noisy ? `\n(noisy run: other processes used >= ${NOISY_CORES} cores in a phase; treat these figures with care)` : '');
  log(header);
  for (const r of Object.values(results)) log(line(r, ratioOf[r.name]));
  log('  latency: per-response hrtime in the load generator (not rounded to 1 ms); srv CPU: server process CPU, in cores;');
  log('  us/req: server CPU per request; failed: non-2xx + errors + timeouts; noise: cores busy outside the server and autocannon');

  const checks = [];
  const ok = (r) => r && r.failed === 0;
  if (results['check-id'] && ratios.checkId !== null) {
    checks.push({ target: `check-id req/s >= ${TARGETS.checkIdRatio} x baseline`, value: ratios.checkId, pass: ok(results['check-id']) && ratios.checkId >= TARGETS.checkIdRatio });
  }
  if (results.poll && ratios.poll !== null) {
    // The same target for the orders merchants really poll: open ones, changing while they are read.
    checks.push({ target: `poll (open orders) >= ${TARGETS.checkIdRatio} x base`, value: ratios.poll, pass: ok(results.poll) && ratios.poll >= TARGETS.checkIdRatio });
    const v = results.poll.latencyMs.p99;
    checks.push({ target: `poll p99 <= ${TARGETS.checkIdP99Ms} ms`, value: v, pass: ok(results.poll) && v <= TARGETS.checkIdP99Ms });
  }
  if (results['check-id']) {
    const v = results['check-id'].latencyMs.p99;
    checks.push({ target: `check-id p99 <= ${TARGETS.checkIdP99Ms} ms`, value: v, pass: ok(results['check-id']) && v <= TARGETS.checkIdP99Ms });
  }
  if (results.send && ratios.send !== null) {
    checks.push({ target: `send req/s >= ${TARGETS.sendRatio} x baseline`, value: ratios.send, pass: ok(results.send) && ratios.send >= TARGETS.sendRatio });
  }
  log('');
  for (const c of checks) log(`${c.pass ? 'PASS' : 'FAIL'}  ${c.target.padEnd(34)} ${c.value}`);
  if (CPU_PROF) log('(profiled run: the profiler slows the server, so these verdicts are not the real ones)');

  const out = {
    at: new Date().toISOString(),
    git,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    loadAverage: os.loadavg(),
    options: { orders: ORDERS, merchants: MERCHANTS, duration: DURATION, warmup: WARMUP, connections: CONNECTIONS, rounds: ROUNDS, accessLog: ACCESS_LOG, processor: !NO_PROCESSOR, cpuProf: CPU_PROF, only: [...ONLY] },
    server: { env: { ...shahn.env, SHAHN_DB: '<temp copy of the cached store>' } },
    store: { key: meta.key, orders: meta.orders, merchants: meta.merchants, counts: meta.counts, sampleIds: meta.sampleIds.length, dbBytes: meta.dbBytes, checkIdQueryPlan: meta.checkIdQueryPlan },
    responseBytes: { checkId: Buffer.byteLength(probeBody), send: Buffer.byteLength(probeSendBody) },
    results,
    ratios,
    quietRounds: clean.length,
    rounds,
    targets: TARGETS,
    checks,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  log(`\nresults: ${join(RESULTS_DIR, 'latest.json')}`);

  if (CPU_PROF) {
    const profs = readdirSync(shahn.profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(shahn.profDir, f));
    const newest = profs.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    if (newest) summarizeProfile(newest);
  }
  return checks.every((c) => c.pass) ? 0 : 1;
}

runMain(main, cleanup);
