/**
 * The process logger of `shahn serve` and `shahn worker` (src/lib/process-logger.ts) in a real child
 * process writing to a pipe: every line arrives, in order, whether the process ends on its own, calls
 * process.exit in the turn that logged, or throws, and when the pipe is non-blocking and its reader
 * slow (full pipe, short writes); a pipe whose reader went away does not stop the process; the level
 * holds.
 * Stores: SQLite only: nothing here touches a store (one run is enough).
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MODULE = join(__dirname, '..', 'dist', 'lib', 'process-logger.js');

/** node's arguments for a child running `body` with `log`, a process logger at level info. */
const childArgs = (body: string) => ['--input-type=module', '-e', `import { processLogger } from ${JSON.stringify(MODULE)};\nconst log = processLogger('info');\n${body}`];
const parseLines = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

function run(body: string): { lines: Array<Record<string, unknown>>; status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, childArgs(body), { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
  return { lines: parseLines(r.stdout), status: r.status, stderr: r.stderr };
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

  it('honours the level', () => {
    const r = run(`log.debug({ i: -1 }, 'hidden'); log.info({ i: 0 }, 'shown'); log.warn({ i: 1 }, 'shown');`);
    inOrder(r.lines, 2);
  });
});
