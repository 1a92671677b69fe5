#!/usr/bin/env node
/**
 * bench/profile-summary.mjs: where a process's CPU went, from a V8 .cpuprofile (node --cpu-prof).
 *
 *   node bench/profile-summary.mjs FILE.cpuprofile|DIR [--top 15] [--from US --to US] [--without writev] [--json]
 *   node bench/profile-summary.mjs --phase check-id [--results bench/results/latest.json]
 *
 * A directory stands for the .cpuprofile files in it (node --cpu-prof-dir writes one per thread: the main
 * thread and workers such as SQLite's background checkpoint); they are added up, as the process's CPU is.
 * Prints the busy time (samples that were not idle), its share by area, by file/package and the top N
 * functions by self time. --from/--to keep the samples taken in that window (µs of the monotonic clock,
 * the one process.hrtime() and the profile's startTime use, the same in every process); --phase takes the
 * window(s) check-id.mjs recorded for that phase (its measured part, not the warm-up) in its results file.
 *
 * Areas (self time): native functions without a script (a C++ binding, a V8 builtin such as
 * JSON.stringify) count toward their caller's area, so better-sqlite3's `get` called from the store is
 * SQLite and `writev` called from node:net is node core; and all that runs under a pino call (node:fs, the
 * write system call) is logging. Generated code (new Function: fast-json-stringify
 * serialisers, ajv validators) is told apart by name.
 *
 * The profiler samples wall-clock time of each thread that is not idle: time in a system call and time
 * spent waiting for a core both count. On loopback a socket send (writev) runs the receiving side's TCP
 * path in the sender's system call, and the sender is often preempted there when it wakes the load
 * generator, so writev looks bigger than its CPU; the areas are also printed without it (--without, ''
 * for none). Compare with the system time /proc gives (check-id.mjs's `sys µs`).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const PKG_AREA = [
  [/^(fastify|find-my-way|avvio|light-my-request|fastq|toad-cache|process-warning|abstract-logging|rfdc|fast-decode-uri-component|fast-querystring|ret|safe-regex2|content-type|@fastify\/(?!fast-json-stringify-compiler|ajv-compiler)[^/]+|forwarded|ipaddr\.js|reusify)$/, 'fastify (routing, hooks, reply)'],
  [/^(ajv|ajv-formats|fast-uri|fast-deep-equal|json-schema-traverse|@fastify\/ajv-compiler)$/, 'validation (ajv)'],
  [/^(fast-json-stringify|@fastify\/fast-json-stringify-compiler|secure-json-parse|json-schema-ref-resolver|@fastify\/merge-json-schemas)$/, 'JSON (serialise, parse)'],
  [/^(pino|sonic-boom|pino-std-serializers|fast-redact|quick-format-unescaped|atomic-sleep|on-exit-leak-free|thread-stream|safe-stable-stringify|fast-safe-stringify|real-require)$/, 'logging (pino)'],
  [/^(better-sqlite3|bindings|file-uri-to-path)$/, 'SQLite (better-sqlite3)'],
  [/^(pg|pg-pool|pg-protocol|pg-types|postgres-.*)$/, 'PostgreSQL (pg)'],
];

/** The area whose calls are counted whole: a log line's node:fs write and system call are logging's. */
const OWNS_SUBTREE = 'logging (pino)';

/** The area and a short location of a call frame; `null` area for a native frame (the caller's area is used). */
function classify(cf) {
  const name = cf.functionName;
  if (name === '(garbage collector)') return { area: 'GC', where: '' };
  if (name === '(program)') return { area: 'V8 / native, unattributed ((program))', where: '' };
  if (name === '(idle)' || name === '(root)') return { area: name, where: '' };
  const url = cf.url ?? '';
  if (url === '') {
    // A script without a URL: code made with new Function / eval (scriptId != 0), or native code.
    if (cf.scriptId && cf.scriptId !== '0' && cf.lineNumber >= 0) {
      return /^validate\d*$/.test(name) ? { area: 'validation (ajv)', where: '(generated)' } : { area: 'JSON (serialise, parse)', where: '(generated)' };
    }
    return { area: null, where: '(native)' };
  }
  let where = url.replace(/^file:\/\//, '');
  const nm = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)(\/.*)?$/.exec(where);
  if (nm) {
    where = `${nm[1]}${nm[2] ?? ''}`;
    for (const [re, area] of PKG_AREA) if (re.test(nm[1])) return { area, where, pkg: nm[1] };
    return { area: `other packages`, where, pkg: nm[1] };
  }
  if (where.startsWith(ROOT)) where = where.slice(ROOT.length);
  if (where.startsWith('node:')) return { area: 'node core (HTTP parsing, net, streams)', where };
  if (/^dist\/store\//.test(where)) return { area: 'SQLite store (our dist/store)', where };
  if (/^dist\/(processor|gateways)\//.test(where)) return { area: 'order processor, gateways (ours)', where };
  if (/^(dist|packages)\//.test(where)) return { area: 'our handler (dist/server, domain, lib; packages/)', where };
  return { area: 'other', where };
}

/**
 * Self time by function, file/package and area, over one profile or several: `parts` is a file name or
 * a list of { file, windows }, where windows are [[fromUs, toUs], …] on the monotonic clock (all samples
 * when empty or absent). `windows` applies to a single file name. Times in µs.
 */
export function summarizeProfile(parts, { windows = [] } = {}) {
  const list = typeof parts === 'string' ? [{ file: parts, windows }] : parts;
  const fn = new Map();
  const fnArea = new Map();
  const files = new Map();
  const areas = new Map();
  let sampled = 0;
  let idle = 0;
  let samples = 0;
  for (const part of list) {
    const prof = JSON.parse(readFileSync(part.file, 'utf8'));
    const wins = part.windows ?? [];
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const info = new Map();
    const infoOf = (id) => {
      let v = info.get(id);
      if (v) return v;
      const n = byId.get(id);
      const c = classify(n.callFrame);
      let area = c.area;
      let via = '';
      if (area === null) {
        // Native: the first caller with a script decides.
        let p = parent.get(id);
        while (p !== undefined) {
          const pc = classify(byId.get(p).callFrame);
          if (pc.area !== null && pc.area !== '(root)') {
            area = pc.area;
            via = byId.get(p).callFrame.functionName || '(anonymous)';
            break;
          }
          p = parent.get(p);
        }
        area ??= 'V8 / native, unattributed ((program))';
      }
      // Everything a logging call does (formatting, sonic-boom, node:fs, the write system call) is logging.
      if (area !== OWNS_SUBTREE) {
        for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
          if (classify(byId.get(p).callFrame).area === OWNS_SUBTREE) {
            area = OWNS_SUBTREE;
            break;
          }
        }
      }
      const cf = n.callFrame;
      const name = `${cf.functionName || '(anonymous)'}  ${c.where}${cf.url ? `:${cf.lineNumber + 1}` : via ? ` ← ${via}` : ''}`;
      const fileKey = c.pkg ?? (c.where === '(native)' ? `(native) ← ${area}` : c.where.replace(/:\d+$/, '') || cf.functionName);
      v = { area, fn: name, file: fileKey };
      info.set(id, v);
      return v;
    };
    const self = new Map();
    let t = prof.startTime;
    const inWindow = (ts) => wins.length === 0 || wins.some(([a, b]) => ts >= a && ts <= b);
    const dt = prof.timeDeltas;
    for (let i = 0; i < prof.samples.length; i++) {
      t += dt[i] ?? 0;
      // A sample stands for the time until the next one (as Chrome's DevTools count it).
      const d = i + 1 < dt.length ? dt[i + 1] : 0;
      if (!inWindow(t)) continue;
      samples++;
      sampled += d;
      self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + d);
    }
    for (const [id, us] of self) {
      const n = byId.get(id);
      if (n.callFrame.functionName === '(idle)') {
        idle += us;
        continue;
      }
      if (n.callFrame.functionName === '(root)') continue;
      const i = infoOf(id);
      fn.set(i.fn, (fn.get(i.fn) ?? 0) + us);
      fnArea.set(i.fn, i.area);
      files.set(i.file, (files.get(i.file) ?? 0) + us);
      areas.set(i.area, (areas.get(i.area) ?? 0) + us);
    }
  }
  const busy = sampled - idle;
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]).map(([k, us]) => ({ name: k, us, share: busy > 0 ? us / busy : 0 }));
  return {
    files: [...new Set(list.map((p) => p.file))],
    windows: list.flatMap((p) => p.windows ?? []),
    samples,
    sampledUs: sampled,
    idleUs: idle,
    busyUs: busy,
    areas: sorted(areas),
    byFile: sorted(files),
    functions: sorted(fn).map((f) => ({ ...f, area: fnArea.get(f.name) })),
  };
}

/**
 * The areas again without some functions (by name, e.g. `writev`: a socket send on loopback runs the
 * receiver's TCP path in the sender's system call, and a wall-clock profiler also counts there the time the
 * thread waits for a core after waking the load generator): shares of what is left.
 */
export function areasWithout(s, names) {
  const skip = (f) => names.includes(f.name.split('  ')[0]);
  const left = s.functions.filter((f) => !skip(f));
  const total = left.reduce((a, f) => a + f.us, 0);
  const m = new Map();
  for (const f of left) m.set(f.area, (m.get(f.area) ?? 0) + f.us);
  const removed = s.functions.filter(skip).reduce((a, f) => a + f.us, 0);
  return { removedUs: removed, busyUs: total, areas: [...m].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, us, share: total > 0 ? us / total : 0 })) };
}

/**
 * The .cpuprofile files of a path: the file itself, or those in a directory (node --cpu-prof-dir writes
 * one per thread: CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, thread 0 the main one), main thread first.
 */
export function profileFiles(path) {
  if (!statSync(path).isDirectory()) return [{ file: path, thread: 0 }];
  return readdirSync(path)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ file: join(path, f), thread: Number(/\.(\d+)\.\d+\.cpuprofile$/.exec(f)?.[1] ?? 0) }))
    .sort((a, b) => a.thread - b.thread);
}

/** The summary as printable lines: areas, files/packages (top `topFiles`), functions (top `top`). */
export function formatSummary(s, { top = 15, topFiles = 15, title, without = [] } = {}) {
  const pct = (x) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const ms = (us) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
  const out = [];
  out.push(`${title ?? `CPU profile ${s.files.join(', ')}`}: ${(s.sampledUs / 1e6).toFixed(2)} thread-s sampled (${s.files.length} thread profile(s)${s.windows.length ? `, ${s.windows.length} window(s)` : ''}), ${(s.busyUs / 1e6).toFixed(2)} s busy; shares are of busy (self) time`);
  out.push('  by area:');
  for (const a of s.areas) out.push(`   ${pct(a.share)} ${ms(a.us)}  ${a.name}`);
  if (without.length > 0) {
    const w = areasWithout(s, without);
    out.push(`  by area without ${without.join(', ')} (${(w.removedUs / 1000).toFixed(0)} ms, ${((w.removedUs / Math.max(1, s.busyUs)) * 100).toFixed(1)}% of busy time, left out):`);
    for (const a of w.areas) out.push(`   ${pct(a.share)} ${ms(a.us)}  ${a.name}`);
  }
  out.push(`  by file / package (top ${topFiles}):`);
  for (const f of s.byFile.slice(0, topFiles)) out.push(`   ${pct(f.share)} ${ms(f.us)}  ${f.name}`);
  out.push(`  top ${top} functions by self time:`);
  for (const f of s.functions.slice(0, top)) out.push(`   ${pct(f.share)} ${ms(f.us)}  ${f.name}`);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values: a, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '15' },
      from: { type: 'string' },
      to: { type: 'string' },
      phase: { type: 'string' },
      results: { type: 'string', default: `${ROOT}bench/results/latest.json` },
      json: { type: 'boolean', default: false },
      without: { type: 'string', default: 'writev' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (a.help || (positionals.length === 0 && !a.phase)) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
    process.exit(a.help ? 0 : 2);
  }
  let parts;
  if (a.phase) {
    // The phase's measured windows, each in the profile of the server process it ran on.
    const res = JSON.parse(readFileSync(a.results, 'utf8'));
    const byFile = new Map();
    for (const r of res.rounds ?? []) {
      const p = r[a.phase];
      if (!p?.windowUs || !p.profile) continue;
      if (positionals.length > 0 && !positionals.includes(p.profile)) continue;
      if (!byFile.has(p.profile)) byFile.set(p.profile, []);
      byFile.get(p.profile).push([p.windowUs.from, p.windowUs.to]);
    }
    parts = [...byFile].flatMap(([path, windows]) => profileFiles(path).map(({ file }) => ({ file, windows })));
    if (parts.length === 0) {
      console.error(`no profiled window for phase "${a.phase}" in ${a.results} (run check-id.mjs with --cpu-prof)`);
      process.exit(2);
    }
  } else {
    const windows = a.from !== undefined || a.to !== undefined ? [[Number(a.from ?? 0), Number(a.to ?? Number.MAX_SAFE_INTEGER)]] : [];
    parts = positionals.flatMap((path) => profileFiles(path).map(({ file }) => ({ file, windows })));
  }
  const s = summarizeProfile(parts);
  if (a.json) console.log(JSON.stringify(s, null, 2));
  else console.log(formatSummary(s, { top: Number(a.top), title: a.phase ? `phase ${a.phase}` : undefined, without: a.without.split(',').filter(Boolean) }).join('\n'));
}
