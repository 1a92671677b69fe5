/**
 * The process logger of `shahn serve` and `shahn worker` (src/lib/process-logger.ts) in a real child
 * process writing to a pipe: every line arrives, in order, whether the process ends on its own, calls
 * process.exit in the turn that logged, or throws, and when the pipe is non-blocking and its reader
 * slow (full pipe, short writes); a pipe whose reader went away does not stop the process; the level
 * holds; a line waits for others at most about FLUSH_MS while the process goes on, and lines logged
 * turn after turn go out in a few writes.
 * Stores: SQLite only: nothing here touches a store (one run is enough).
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLUSH_MS } from '../src/lib/process-logger.js';

const MODULE = join(__dirname, '..', 'dist', 'lib', 'process-logger.js');

/** node's arguments for a child running `preamble`, then `body` with `log`, a process logger at level info (loaded after the preamble). */
const childArgs = (body: string, preamble = '') => [
  '--input-type=module',
  '-e',
  `${preamble}\nconst { processLogger } = await import(${JSON.stringify(MODULE)});\nconst log = processLogger('info');\n${body}`,
];
const parseLines = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

function run(body: string, preamble = ''): { lines: Array<Record<string, unknown>>; status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, childArgs(body, preamble), { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
  return { lines: parseLines(r.stdout), status: r.status, stderr: r.stderr };
}

/**
 * `run` with the child's fs.write counted before the logger is loaded (its named import sees the
 * counter): `writes`, `firstWriteAt` (performance.now()) and `report(value)`, which writes the value as
 * JSON to stderr, are in scope of `body`.
 */
function runCounting(body: string): { lines: Array<Record<string, unknown>>; status: number | null; report: unknown } {
  const r = run(
    body,
    `import fs from 'node:fs'; import { syncBuiltinESMExports } from 'node:module';
    let writes = 0; let firstWriteAt; const write = fs.write;
    fs.write = (...a) => { writes++; firstWriteAt ??= performance.now(); return write(...a); };
    syncBuiltinESMExports();
    const report = (value) => process.stderr.write('\\n' + JSON.stringify(value) + '\\n');`,
  );
  const last = r.stderr.trim().split('\n').at(-1);
  return { lines: r.lines, status: r.status, report: last ? JSON.parse(last) : undefined };
}

const inOrder = (lines: Array<Record<string, unknown>>, n: number) => expect(lines.map((l) => l.i)).toEqual(Array.from({ length: n }, (_, i) => i));

describe('the process logger', () => {
  it('writes every line in order across turns when the process ends on its own', () => {
    const r = run(`let i = 0; const turn = () => { for (let k = 0; k < 50; k++) log.info({ i: i++ }, 'line'); if (i < 5000) setImmediate(turn); }; turn();`);
    expect(r.status).toBe(0);
    inOrder(r.lines, 5000);
    expect(r.lines[0]).toMatchObject({ level: 30, msg: 'line', pid: expect.any(Number) });
  });

  it('writes the lines of the turn that calls process.exit', () => {
    const r = run(`for (let i = 0; i < 20000; i++) log.info({ i }, 'line'); process.exit(3);`);
    expect(r.status).toBe(3);
    inOrder(r.lines, 20000);
  });

  it('writes the lines of the turn that calls process.exit through a real pipe, more than a write takes at once', () => {
    // A shell pipe (64 KiB), made non-blocking by touching process.stdout: a write started in the
    // same turn would come back short and its rest be lost at the exit.
    const r = spawnSync('sh', ['-c', '"$0" "$@" | cat', process.execPath, ...childArgs(`process.stdout.write(''); for (let i = 0; i < 20000; i++) log.info({ i }, 'line'); process.exit(3);`)], {
      encoding: 'utf8',
      timeout: 30_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    inOrder(parseLines(r.stdout), 20000);
  });

  it('writes the lines logged before an uncaught error', () => {
    const r = run(`setImmediate(() => { for (let i = 0; i < 100; i++) log.info({ i }, 'line'); throw new Error('boom'); });`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('boom');
    inOrder(r.lines, 100);
  });

  it('writes every line in order through a full non-blocking pipe whose reader is slow', async () => {
    // Touching process.stdout makes node put the pipe in non-blocking mode: writes then meet EAGAIN
    // (a full pipe) and short writes (a pipe with some room).
    const body = `process.stdout.write(''); let i = 0; const turn = () => { for (let k = 0; k < 500; k++) log.info({ i: i++, pad: 'x'.repeat(200) }, 'line'); if (i < 20000) setImmediate(turn); }; turn();`;
    const child = spawn(process.execPath, childArgs(body), { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pause();
    await new Promise((r) => setTimeout(r, 500)); // the pipe fills while nobody reads
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stdout.resume();
    const status = await new Promise<number | null>((r) => child.on('close', r));
    expect(status).toBe(0);
    inOrder(parseLines(out), 20000);
  });

  it('goes on when the pipe has no reader any more, and says so once on stderr', async () => {
    const body = `let i = 0; const t = setInterval(() => { for (let k = 0; k < 100; k++) log.info({ i: i++ }, 'line'); }, 5); setTimeout(() => { clearInterval(t); process.stderr.write('still here ' + i + '\\n'); }, 600);`;
    const child = spawn(process.execPath, childArgs(body), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    await new Promise((r) => child.stdout.once('data', r));
    child.stdout.destroy(); // the reader goes away: the next writes fail with EPIPE
    const status = await new Promise<number | null>((r) => child.on('close', r));
    expect(status).toBe(0);
    expect(err).toMatch(/still here \d+/);
    expect(err.match(/cannot write log lines/g)).toHaveLength(1);
  });

  it('keeps multi-byte text and lines longer than its buffers intact', () => {
    // Arabic (2 bytes a character in UTF-8), an emoji (4 bytes, two UTF-16 units), a lone surrogate
    // (pino leaves it as it is and UTF-8 cannot carry it: it arrives as U+FFFD, as through any UTF-8
    // stream), and lines of 100 KiB and 1 MiB beside short ones.
    const r = run(`const big = 'ش'.repeat(50 * 1024); for (let i = 0; i < 6; i++) log.info({ i, s: i % 2 ? big + '😀' : 'شحن ok' + '\\ud800' }, 'line'); setImmediate(() => { log.info({ i: 6, s: 'x'.repeat(1 << 20) }, 'line'); log.info({ i: 7, s: 'نهاية' }, 'line'); });`);
    expect(r.status).toBe(0);
    inOrder(r.lines, 8);
    expect(r.lines[0]!.s).toBe('شحن ok\ufffd');
    expect(r.lines[1]!.s).toBe('ش'.repeat(50 * 1024) + '😀');
    expect((r.lines[6]!.s as string).length).toBe(1 << 20);
    expect(r.lines[7]!.s).toBe('نهاية');
  });

  it('writes a lone line while the process goes on, after waiting about FLUSH_MS for others', () => {
    // The child reports, 300 ms after logging one line, when its first write started: the timer's
    // write, since the exit's would come later.
    const r = runCounting(`const at = performance.now(); log.info({ i: 0 }, 'line'); setTimeout(() => report({ waited: firstWriteAt === undefined ? null : firstWriteAt - at }), 300);`);
    expect(r.status).toBe(0);
    inOrder(r.lines, 1);
    const { waited } = r.report as { waited: number | null };
    expect(waited).not.toBeNull();
    expect(waited).toBeGreaterThanOrEqual(FLUSH_MS - 2); // it waited for more lines (a timer may fire a little early)
    expect(waited).toBeLessThan(300);
  });

  it('gathers lines logged turn after turn into a few writes', () => {
    const r = runCounting(`const start = performance.now(); let i = 0; const t = setInterval(() => log.info({ i: i++ }, 'line'), 1);
      setTimeout(() => { clearInterval(t); setTimeout(() => report({ writes, lines: i, ms: performance.now() - start }), 100); }, 400);`);
    expect(r.status).toBe(0);
    const { writes, lines, ms } = r.report as { writes: number; lines: number; ms: number };
    inOrder(r.lines, lines);
    expect(lines).toBeGreaterThanOrEqual(50); // each line in its own turn (a 1 ms interval)
    // The timer writes again after its first write (about one write per FLUSH_MS of logging, 20 in
    // 400 ms), and not per turn (a write per line).
    expect(writes).toBeGreaterThanOrEqual(5);
    expect(writes).toBeLessThanOrEqual(Math.ceil(ms / FLUSH_MS) + 3);
    expect(writes * 2).toBeLessThan(lines);
  });

  it('honours the level', () => {
    const r = run(`log.debug({ i: -1 }, 'hidden'); log.info({ i: 0 }, 'shown'); log.warn({ i: 1 }, 'shown');`);
    inOrder(r.lines, 2);
  });
});
