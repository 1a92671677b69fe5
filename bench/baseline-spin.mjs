#!/usr/bin/env node
/**
 * How a slower server fares against the same client: the check-id benchmark's node:http baseline, and
 * the same server made slower by a busy loop of --spin-us microseconds per request (pure user CPU,
 * nothing else changed), both driven by wrk as bench/check-id.mjs drives them (one thread, 64
 * connections, loopback, the server pinned to CPU 0 and wrk to CPU 1).
 *
 *   node bench/baseline-spin.mjs [--spin-us N] [--duration S] [--rounds R]
 *
 * It answers two questions about the check-id figures. What ratio does a server that costs N µs more
 * per request get (0.6× needs at most 1.67 times the baseline's cost)? And does the kernel's part of a
 * request grow when the server is slower and the client idles more (waking it costing more on a VM)?
 * If it does not, extra kernel time in shahn's check-id is shahn's own. Prints per run req/s, the
 * server's user and kernel CPU per request (/proc), and the ratio of the spinning server to the plain
 * one in the same round.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs, ensureWrk, intArg, killChildrenNow, median, procCpuSplit, round, runWrk, startBaseline, stopChild } from './lib.mjs';

const args = benchArgs(import.meta.url, {
  'spin-us': { type: 'string', default: '17' },
  duration: { type: 'string', default: '10' },
  rounds: { type: 'string', default: '2' },
});
const SPIN_US = intArg(args, 'spin-us', 0, 10_000);
const DURATION = intArg(args, 'duration', 1, 600);
const ROUNDS = intArg(args, 'rounds', 1, 20);
if (!ensureWrk()) {
  console.error('wrk is needed (Debian package wrk).');
  process.exit(2);
}

const BODY = JSON.stringify({ success: true, data: { id: '6a1f9a2b2b3c4d5e8f901234', status: 'FULFILLED', MSSIDN: '0770000001', topup_amount: 100 }, requestId: 'req_1764790000_0123456789ab' });
const dir = mkdtempSync(join(tmpdir(), 'shahn-spin-'));
const children = new Set();
process.on('exit', () => {
  killChildrenNow(children);
  rmSync(dir, { recursive: true, force: true });
});

/** The baseline (pinned to CPU 0) with a busy loop of `spinUs` per request, under wrk (CPU 1): req/s and its CPU per request. */
async function measure(spinUs) {
  const { child, url } = await startBaseline(BODY, 'req_1764790000_0123456789ab', { dir, children, cpu: 0, spinUs });
  try {
    await runWrk({ url, durationS: 2, cpu: 1 }); // warm-up
    const a = procCpuSplit(child.pid);
    const r = await runWrk({ url, durationS: DURATION, cpu: 1 });
    const b = procCpuSplit(child.pid);
    return { spinUs, rps: r.rps, userUs: ((b.user - a.user) * 1e6) / r.requests, sysUs: ((b.system - a.system) * 1e6) / r.requests, cores: (b.user - a.user + b.system - a.system) / DURATION };
  } finally {
    await stopChild(children, child, 5_000);
  }
}

const rows = [];
for (let i = 1; i <= ROUNDS; i++) {
  const plain = await measure(0);
  const spun = await measure(SPIN_US);
  rows.push({ plain, spun, ratio: spun.rps / plain.rps });
  for (const m of [plain, spun]) {
    console.log(`round ${i} spin ${String(m.spinUs).padStart(3)} µs: ${Math.round(m.rps)} req/s, user ${round(m.userUs, 1)} µs/req, kernel ${round(m.sysUs, 1)} µs/req, server ${round(m.cores, 2)} cores`);
  }
  console.log(`round ${i} ratio ${round(spun.rps / plain.rps, 3)}`);
}
const med = (f) => round(median(rows.map(f)), 2);
console.log(`\nmedians: plain user ${med((r) => r.plain.userUs)} + kernel ${med((r) => r.plain.sysUs)} µs/req; spin ${SPIN_US} µs: user ${med((r) => r.spun.userUs)} + kernel ${med((r) => r.spun.sysUs)} µs/req; ratio ${med((r) => r.ratio)}`);
