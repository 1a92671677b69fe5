/**
 * The process logger of `shahn serve` and `shahn worker` (src/lib/process-logger.ts) in a real child
 * process writing to a pipe: every line arrives, in order, whether the process ends on its own, calls
 * process.exit in the turn that logged, or throws; the level holds.
 * Stores: SQLite only: nothing here touches a store (one run is enough).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MODULE = join(__dirname, '..', 'dist', 'lib', 'process-logger.js');

function run(body: string): { lines: Array<Record<string, unknown>>; status: number | null; stderr: string } {
  const src = `import { processLogger } from ${JSON.stringify(MODULE)};\nconst log = processLogger('info');\n${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
  const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, status: r.status, stderr: r.stderr };
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

  it('honours the level', () => {
    const r = run(`log.debug({ i: -1 }, 'hidden'); log.info({ i: 0 }, 'shown'); log.warn({ i: 1 }, 'shown');`);
    inOrder(r.lines, 2);
  });
});
