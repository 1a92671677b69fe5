/**
 * Helpers shared by the benchmark scripts in bench/ (check-id.mjs, stores.mjs, processor.mjs,
 * merchant-sync.mjs, kit-webhooks.mjs, …): arguments, numbers, a counting fetch for the SDK, /proc CPU
 * counters, child processes, the node:http baseline, wrk (and its Lua report), autocannon and the git state. Plain ESM; only node: built-ins are imported up front
 * (autocannon is loaded on demand, so processor.mjs and merchant-sync.mjs do not carry it).
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The repository root (bench/..). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

// ---------------------------------------------------------------- the compiled server, data shared by the store builders

/** Import a module of the compiled server (dist/, from `npm run build`); exit 2 when it is missing. */
export async function dist(path) {
  const file = join(ROOT, 'dist', path);
  if (!existsSync(file)) {
    console.error(`${file} is missing: run \`npm run build\` first.`);
    process.exit(2);
  }
  return import(new URL(`../dist/${path}`, import.meta.url).href);
}

export const BENCH_USERNAME = '+213550000000';
export const BENCH_BALANCE_DZD = 100_000_000; // 10^8 DZD, the most a merchant may be created with: 10^6 sends of 100 DZD
export const BENCH_SHARE = 0.1; // share of all orders that belong to the benchmarked merchant
export const SANDBOX_SHARE = 0.1; // share of orders in the sandbox (the rest: production)
export const SAMPLE_IDS = 20_000; // check-id rotates over this many distinct production orders
/** Refund notices stored on refunded / uncertain orders (copies of the contract's texts; only their size matters here). */
export const MESSAGES = {
  WRONG_NUMBER: 'رقم الهاتف خاطئ، يرجى التأكد مع العميل',
  UNKNOWN_NOTICE:
    'هذه العملية حالتها غير معروفة، يرجى التأكد مع عميلك، ولن نتحمل أي مسؤولية عن أي خسائر. إذا فشلت العملية بالفعل، فلا تقلق، سيتم استرداد أموالك خلال 24 ساعة',
};
/** 24 hex, ObjectId-like and increasing: seconds, a fixed tag, a row counter. */
export const orderId = (createdAt, i) =>
  Math.floor(createdAt / 1000).toString(16).padStart(8, '0') + 'b0' + i.toString(16).padStart(14, '0');

// ---------------------------------------------------------------- arguments

/** Print the script's leading doc comment (up to the first `*` + `/`) for --help. */
export function printHeaderComment(scriptUrl) {
  process.stdout.write(readFileSync(fileURLToPath(scriptUrl), 'utf8').split('*/')[0] + '*/\n');
}

/**
 * A benchmark's command line (node:util parseArgs, strict, with -h/--help added): with --help, the
 * script's header comment is printed and the process exits 0; an unknown option or a missing value is
 * one line on stderr and exit 2. Returns the values.
 */
export function benchArgs(scriptUrl, options) {
  let values;
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h', default: false } }, strict: true }));
  } catch (err) {
    if (!String(err?.code).startsWith('ERR_PARSE_ARGS')) throw err;
    console.error(`${err.message} (--help lists the options)`);
    process.exit(2);
  }
  if (values.help) {
    printHeaderComment(scriptUrl);
    process.exit(0);
  }
  return values;
}

/**
 * A number option of parseArgs' `args`, between min and max (a whole number unless `integer` is false);
 * `fallback` when the option is absent and a fallback is given. Anything else: a message and exit 2.
 */
export function numArg(args, name, min, max, fallback, integer = true) {
  const raw = args[name];
  if (raw === undefined && fallback !== undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
    console.error(`--${name} must be a ${integer ? 'whole ' : ''}number between ${min} and ${max}, got "${raw}"`);
    process.exit(2);
  }
  return v;
}
/** A whole-number option: numArg with integer = true. */
export const intArg = (args, name, min, max, fallback) => numArg(args, name, min, max, fallback, true);

// ---------------------------------------------------------------- numbers

export const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
/** v rounded to d decimals; null for null, undefined, NaN and infinities. */
export const round = (v, d = 2) => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : null);
/** The median of the finite values of xs; null when there are none. */
export const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
/** The p-th percentile (nearest rank) of an ascending array; NaN when it is empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}
/** A right-aligned table cell; '-' for null and undefined. */
export const col = (s, w) => String(s ?? '-').padStart(w);

/** n, mean, p50, p95, p99, max and min of the finite values of xs (nulls when there are none). */
export function stats(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, mean: null, p50: null, p95: null, p99: null, max: null, min: null };
  return { n: s.length, mean: s.reduce((a, b) => a + b, 0) / s.length, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s[s.length - 1], min: s[0] };
}
/** Milliseconds as seconds with 2 decimals ("1.23 s"); '—' for null and undefined. */
export const sec = (ms) => (ms === null || ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);
/** How many times each value occurs in xs: { value: count }. */
export function countBy(xs) {
  const m = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return m;
}

// ---------------------------------------------------------------- the SDK's HTTP calls

/**
 * A fetch for the SDK that counts HTTP calls by endpoint and, when `observe` is given, reports every
 * top-up in a check-id or list answer (id, status, when the answer arrived).
 */
export function countingFetch(observe) {
  const counts = { send: 0, checkId: 0, checkRef: 0, list: 0, other: 0, failed: 0, non2xx: 0 };
  const f = async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? String(input) : input.url);
    const kind = url.pathname === '/v3/mobile/send' ? 'send'
      : url.pathname.startsWith('/v3/mobile/check-id/') ? 'checkId'
      : url.pathname.startsWith('/v3/mobile/check-ref/') ? 'checkRef'
      : url.pathname === '/v3/mobile/list' ? 'list' : 'other';
    counts[kind]++;
    let res;
    try {
      res = await globalThis.fetch(input, init);
    } catch (err) {
      counts.failed++;
      throw err;
    }
    const at = Date.now();
    if (!res.ok) counts.non2xx++;
    if (observe && res.ok && (kind === 'checkId' || kind === 'list' || kind === 'checkRef')) {
      try {
        const body = await res.clone().json();
        const items = kind === 'list' ? (body?.data?.items ?? []) : body?.data ? [body.data] : [];
        observe(kind, at, items);
      } catch {
        /* not JSON: the SDK reports it */
      }
    }
    return res;
  };
  return { fetch: f, counts };
}

// ---------------------------------------------------------------- CPU counters (/proc)

export const CLK_TCK = 100;
/** Other processes using this many cores or more make a phase (and its round) noisy. */
export const NOISY_CORES = 0.25;

/** CPU seconds (user+system, all threads) of a process, from /proc; null where there is no /proc. */
export function procCpu(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}
/** User and system CPU seconds (all threads) of a process, from /proc; null where there is no /proc. */
export function procCpuSplit(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / CLK_TCK, system: Number(f[12]) / CLK_TCK };
  } catch {
    return null;
  }
}
/**
 * Machine-wide CPU counters (all cores, jiffies), to see how much else ran during a phase; null without /proc.
 * `irq` (hard + soft interrupts) is time no process is charged with: on loopback much of it is the
 * benchmark's own network traffic.
 */
export function sysCpu() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return { busy: user + nice + system + irq + softirq + steal, total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal, irq: irq + softirq };
  } catch {
    return null;
  }
}

/**
 * Wait (bounded by maxS seconds) until the rest of the machine uses less than NOISY_CORES; returns the
 * cores used elsewhere in the last second (rounded), or null when maxS is 0 or there is no /proc.
 * `ours()` starts measuring CPU that is ours but not this process's (children, a database) and returns
 * a function giving the CPU seconds used since; by default nothing is subtracted.
 */
export async function waitQuiet(maxS, ours = () => () => 0) {
  if (maxS === 0 || !sysCpu()) return null;
  const until = Date.now() + maxS * 1000;
  let other;
  for (;;) {
    const a = sysCpu();
    const me = process.cpuUsage();
    const oursSince = ours();
    await sleep(1000);
    const b = sysCpu();
    const mine = (process.cpuUsage(me).user + process.cpuUsage(me).system) / 1e6;
    other = ((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length - mine - oursSince();
    if (other < NOISY_CORES || Date.now() >= until) break;
  }
  return round(other, 2);
}

// ---------------------------------------------------------------- child processes

/** SIGKILL every child in the set that is still running (on exit, on the hard time limit). */
export function killChildrenNow(children) {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
/** SIGTERM a child, SIGKILL it after graceMs, wait for it to exit and drop it from the set. */
export async function stopChild(children, child, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
  children.delete(child);
}

/** Wait until `re` matches the child's output file; throws (with the output) when it exits or timeoutMs passes. */
export async function waitForFile(path, re, child, timeoutMs, what) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    const m = re.exec(text);
    if (m) return m;
    if (child.exitCode !== null || child.signalCode !== null) break;
    await sleep(50);
  }
  throw new Error(`${what} did not start (exit ${child.exitCode ?? child.signalCode ?? 'none'}). Its output:\n${existsSync(path) ? readFileSync(path, 'utf8') : ''}`);
}

/** process.env without the SHAHN_* settings, PORT and HOST: the base of a shahn child's environment. */
export function envWithoutShahn() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SHAHN_') && k !== 'PORT' && k !== 'HOST') env[k] = v;
  return env;
}

/**
 * `shahn serve` of the checkout at `root` as a child (added to `children`), on a free port, with the
 * benchmark's defaults (no demo, no rate limit, no access log) under `env`; resolves once it listens.
 */
export async function startServeChild(root, env, children, timeoutMs = 30_000) {
  const child = spawn(process.execPath, [join(root, 'bin', 'shahn.js'), 'serve'], {
    env: { ...envWithoutShahn(), PORT: '0', SHAHN_DEMO: 'false', SHAHN_RATE_LIMIT: '0', SHAHN_LOG_LEVEL: 'warn', SHAHN_ACCESS_LOG: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const t0 = Date.now();
  while (!/listening on (http:\/\/\S+)/.test(out)) {
    if (child.exitCode !== null || Date.now() - t0 > timeoutMs) throw new Error(`shahn serve (${root}) did not start: ${out}`);
    await sleep(50);
  }
  return { child, url: /listening on (http:\/\/\S+)/.exec(out)[1] };
}

/**
 * The baseline: a plain node:http server answering every request with the same body (BENCH_BODY). With
 * BENCH_SPIN_US it first spins that many microseconds per request (bench/baseline-spin.mjs); the handler
 * is chosen once, so the plain one has no test in it.
 */
export const BASELINE_SRC = `
import http from 'node:http';
const body = Buffer.from(process.env.BENCH_BODY, 'utf8');
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length, 'x-request-id': process.env.BENCH_REQID };
const spin = BigInt(Math.round(Number(process.env.BENCH_SPIN_US ?? 0) * 1000));
const server = http.createServer(spin > 0n
  ? (req, res) => { req.resume(); const end = process.hrtime.bigint() + spin; while (process.hrtime.bigint() < end); res.writeHead(200, headers); res.end(body); }
  : (req, res) => { req.resume(); res.writeHead(200, headers); res.end(body); });
server.keepAliveTimeout = 72_000;
server.listen(0, '127.0.0.1', () => process.stdout.write('listening on http://127.0.0.1:' + server.address().port + '\\n'));
process.once('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0); });
`;

/**
 * Start the baseline as a child process (output in dir/baseline.out, added to `children`) and wait until it
 * listens; `nodeArgs` go to node before the script (--cpu-prof …); `spinUs` slows each request by a busy loop.
 */
export async function startBaseline(body, requestId, { dir, children, nodeArgs = [], cpu, spinUs = 0 }) {
  const out = join(dir, 'baseline.out');
  const fd = openSync(out, 'w');
  const child = spawn(...onCpu(cpu, process.execPath, [...nodeArgs, '--input-type=module', '-e', BASELINE_SRC]), {
    cwd: dir,
    env: { PATH: process.env.PATH, BENCH_BODY: body, BENCH_REQID: requestId, BENCH_SPIN_US: String(spinUs) },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  children.add(child);
  const m = await waitForFile(out, /listening on (http:\/\/127\.0\.0\.1:\d+)/, child, 15_000, 'baseline');
  return { child, url: m[1], pids: [child.pid] };
}

// ---------------------------------------------------------------- load

let autocannon = null;
/** Load autocannon once; call (and await) it before the first cannon(). */
export async function loadAutocannon() {
  autocannon ??= (await import('autocannon')).default;
}

/** One autocannon instance in this process; latencies kept per response (hrtime, not rounded to 1 ms). */
export function cannon(opts, record) {
  if (!autocannon) throw new Error('cannon(): call loadAutocannon() first');
  return new Promise((resolve, reject) => {
    let lat = new Float64Array(1 << 16);
    let n = 0;
    const status = {};
    const inst = autocannon({ timeout: 10, ...opts }, (err, res) => {
      if (err) reject(err);
      else resolve({ res, lat: lat.subarray(0, n), status });
    });
    if (record) {
      inst.on('response', (_client, code, _bytes, ms) => {
        status[code] = (status[code] ?? 0) + 1;
        if (n === lat.length) {
          const bigger = new Float64Array(lat.length * 2);
          bigger.set(lat);
          lat = bigger;
        }
        lat[n++] = ms;
      });
    }
  });
}

/**
 * wrk (Debian's package): a load generator in C, faster than the servers it measures. Installed by
 * `scripts/ensure-debian-packages.sh wrk` when missing (see ensureWrk); returns false when there is none.
 */
export function haveWrk() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing its version.
    return err?.status === 1;
  }
}

/**
 * haveWrk(), after one try at installing it with `bash scripts/ensure-debian-packages.sh wrk` when it is
 * missing (needs apt-get and root; the script says what is missing otherwise). Returns whether wrk is there.
 */
export function ensureWrk(log = console.error) {
  if (haveWrk()) return true;
  log('wrk is missing: trying `bash scripts/ensure-debian-packages.sh wrk`');
  try {
    execFileSync('bash', [join(ROOT, 'scripts', 'ensure-debian-packages.sh'), 'wrk'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
  } catch (err) {
    log(`ensure-debian-packages.sh failed: ${err?.message ?? err}`);
  }
  return haveWrk();
}

/**
 * Lua for a wrk script: status counts per code (response()), the threads (setup(), each with its
 * number `tid` from 1), and a done() that prints one line `WRK_JSON {...}`: requests, duration, bytes,
 * socket errors, latency (µs: min, mean, stdev, p50, p75, p90, p99, p99.9, max), responses by status,
 * and wrk's own CPU ticks from /proc/self/stat (read in done(), so the whole run is counted). runWrk
 * parses it. A script using it defines request() (and init(args) when it takes arguments) and must not
 * define setup, response or done itself.
 */
export const WRK_LUA_REPORT = `
local wrk_threads = {}
statuses = {}
function setup(thread)
  wrk_threads[#wrk_threads + 1] = thread
  thread:set("tid", #wrk_threads)
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(wrk_threads) do
    local s = t:get("statuses")
    if s then for k, v in pairs(s) do total[k] = (total[k] or 0) + v end end
  end
  local parts = {}
  for k, v in pairs(total) do parts[#parts + 1] = string.format('"%s":%d', tostring(k), v) end
  local utime, stime = "null", "null"
  local f = io.open("/proc/self/stat", "r")
  if f then
    local st = f:read("*a")
    f:close()
    local fields = {}
    for w in st:sub(st:find(")", 1, true) + 2):gmatch("%S+") do fields[#fields + 1] = w end
    utime, stime = fields[12], fields[13]
  end
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latencyUs":{"min":%d,"mean":%.1f,"stdev":%.1f,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},"status":{%s},"cpuTicks":{"utime":%s,"stime":%s}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    table.concat(parts, ","), utime, stime))
end
`;

/**
 * Run wrk against `url` for `durationS` seconds with `connections` connections on `threads` threads
 * and an optional Lua script (a file path; `scriptArgs` go after `--` to its init(args)); returns
 * requests/s, latency percentiles (ms), status counts (non-2xx/3xx and socket errors as wrk reports
 * them) and the raw output. When the script prints WRK_JSON (WRK_LUA_REPORT), `summary` holds it
 * parsed, with `status` (responses by code), `ok` (2xx), `cpuS` (wrk's own CPU seconds) and the
 * latencies in ms. `onSpawn(child)` sees the wrk process.
 */
/**
 * The command that runs `file args` on one CPU (`taskset -c`), or as is when `cpu` is undefined. taskset
 * execs the program, so the child's pid is the program's.
 */
export function onCpu(cpu, file, args) {
  return cpu === undefined ? [file, args] : ['taskset', ['-c', String(cpu), file, ...args]];
}

export function runWrk({ url, connections = 64, threads = 1, durationS = 10, script, scriptArgs = [], headers = {}, timeoutS = 10, onSpawn, cpu }) {
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${durationS}s`, '--latency', '--timeout', `${timeoutS}s`];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  if (script) args.push('-s', script);
  args.push(url);
  if (scriptArgs.length > 0) args.push('--', ...scriptArgs.map(String));
  return new Promise((resolve, reject) => {
    const child = spawn(...onCpu(cpu, 'wrk', args), { stdio: ['ignore', 'pipe', 'pipe'] });
    onSpawn?.(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${out}`));
      const num = (re) => {
        const m = re.exec(out);
        return m ? Number(m[1]) : null;
      };
      const ms = (label) => {
        const m = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
        if (!m) return null;
        return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
      };
      let summary = null;
      const line = /^WRK_JSON (.*)$/m.exec(out);
      let j = null;
      try {
        j = line ? JSON.parse(line[1]) : null;
      } catch {
        j = null; // nan latencies when nothing was answered
      }
      if (j) {
        const lat = Object.fromEntries(Object.entries(j.latencyUs).map(([k, v]) => [k, v / 1000]));
        const ok = Object.entries(j.status).reduce((a, [code, n]) => a + (code >= 200 && code < 300 ? n : 0), 0);
        const ticks = j.cpuTicks.utime === null ? null : j.cpuTicks.utime + j.cpuTicks.stime;
        summary = { ...j, latencyMs: lat, ok, durationS: j.durationUs / 1e6, cpuS: ticks === null ? null : ticks / CLK_TCK };
      }
      resolve({
        rps: num(/Requests\/sec:\s+([\d.]+)/),
        requests: num(/(\d+) requests in/),
        p50: summary?.latencyMs.p50 ?? ms('50'),
        p90: summary?.latencyMs.p90 ?? ms('90'),
        p99: summary?.latencyMs.p99 ?? ms('99'),
        non2xx: num(/Non-2xx or 3xx responses: (\d+)/) ?? 0,
        socketErrors: /Socket errors: (.*)/.exec(out)?.[1] ?? null,
        summary,
        raw: out,
      });
    });
  });
}

// ---------------------------------------------------------------- git

/** The commit measured, and whether src/ or packages/ differ from it (the benchmark runs whatever dist/ holds). */
export function gitInfo() {
  try {
    const git = (...a) => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return { commit: git('rev-parse', '--short', 'HEAD'), srcChanged: git('status', '--porcelain', '--', 'src', 'packages').length > 0 };
  } catch {
    return null;
  }
}

/** Run main(); exit with its code after cleanup(), or print the error, clean up and exit 2. */
export function runMain(main, cleanup) {
  main().then(
    async (code) => {
      await cleanup();
      process.exit(code);
    },
    async (err) => {
      console.error(`\nbenchmark failed: ${err?.stack ?? err}`);
      await cleanup();
      process.exit(2);
    },
  );
}
