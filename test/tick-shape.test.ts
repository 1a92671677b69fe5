/**
 * keepNextTickShape (src/lib/tick-shape.ts): after a full garbage collection with no nextTick entry
 * alive, V8 loses the maps in nextTick's feedback and marks it megamorphic for good, so every later
 * nextTick goes through a slow runtime call. These tests read nextTick's feedback from V8 itself
 * (%DebugPrint under --allow-natives-syntax, in a child node) after forcing such collections: without
 * the kept entry the feedback goes megamorphic (the effect is real on this node), with it, and in a
 * process started by bin/shahn.js, it stays monomorphic.
 * Stores: SQLite only: no store is involved (one run is enough).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TICK_SHAPE = new URL('../dist/lib/tick-shape.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'shahn-tick-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Ticks enough for V8 to give nextTick its feedback, then full collections with no entry alive, then ticks again and the feedback printed. */
const EXERCISE = `
const tick = () => new Promise((resolve) => process.nextTick(resolve));
for (let i = 0; i < 2000; i++) await tick();
globalThis.gc(); globalThis.gc();
for (let i = 0; i < 100; i++) await tick();
%DebugPrint(process.nextTick);
`;

/** node's internal modules, for a child run with --expose-internals (an ES module has no require of its own). */
const INTERNALS = `
const require = (await import('node:module')).createRequire(import.meta.url);
const { internalBinding } = require('internal/test/binding');`;

let runs = 0;
/**
 * The states of nextTick's DefineKeyedOwnPropertyInLiteral feedback slots (one per property of a queue
 * entry) printed by `node --expose-gc --allow-natives-syntax ...args`. Its stdout goes to a file:
 * %DebugPrint writes with C stdio, which loses output on the non-blocking pipe node makes of a piped
 * stdout once the pipe is full.
 */
async function literalSlotStates(args: string[]): Promise<string[]> {
  const out = join(dir, `stdout-${++runs}`);
  const fd = openSync(out, 'w');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--expose-gc', '--allow-natives-syntax', ...args], { cwd: ROOT, stdio: ['ignore', fd, 'inherit'] });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`node ${args.join(' ')} exited with ${code}`))));
    });
  } finally {
    closeSync(fd);
  }
  return [...readFileSync(out, 'utf8').matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1]!);
}

const MONOMORPHIC = ['MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC'];

describe('keepNextTickShape', () => {
  it("without it, a full collection leaves nextTick's feedback megamorphic (the effect it prevents)", async () => {
    const states = await literalSlotStates(['--input-type=module', '-e', EXERCISE]);
    expect(states).toHaveLength(4);
    expect(states).toContain('MEGAMORPHIC');
  });

  it('with it, the feedback stays monomorphic through full collections', async () => {
    const script = `(await import(${JSON.stringify(TICK_SHAPE)})).keepNextTickShape();\n${EXERCISE}`;
    expect(await literalSlotStates(['--input-type=module', '-e', script])).toEqual(MONOMORPHIC);
  });

  it('leaves no async hook on and does not switch node to its callback trampoline', async () => {
    const script = `${INTERNALS}
const ah = require('internal/async_hooks');
const { kUsesExecutionAsyncResource, kCheck } = internalBinding('async_wrap').constants;
const [, fields] = ah.getHookArrays();
const before = fields[kCheck];
await (await import(${JSON.stringify(TICK_SHAPE)})).keepNextTickShape();
await new Promise((resolve) => process.nextTick(resolve));
console.log(JSON.stringify({ hooks: ah.getHookArrays()[0].length, init: ah.initHooksExist(), trampoline: fields[kUsesExecutionAsyncResource], check: fields[kCheck] - before }));
`;
    const out = join(dir, 'hooks.json');
    const fd = openSync(out, 'w');
    try {
      await new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, ['--expose-internals', '--no-warnings', '--input-type=module', '-e', script], {
          cwd: ROOT,
          stdio: ['ignore', fd, 'inherit'],
        });
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exited with ${code}`))));
      });
    } finally {
      closeSync(fd);
    }
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ hooks: 0, init: false, trampoline: 0, check: 0 });
  });

  it('keeps the feedback monomorphic with async ids past the small-integer range', async () => {
    // Ids count every async resource: a busy server passes 2^31 within hours.
    const script = `${INTERNALS}
const { async_id_fields, constants } = internalBinding('async_wrap');
async_id_fields[constants.kAsyncIdCounter] = 2 ** 33;
(await import(${JSON.stringify(TICK_SHAPE)})).keepNextTickShape();
${EXERCISE}`;
    expect(await literalSlotStates(['--expose-internals', '--no-warnings', '--input-type=module', '-e', script])).toEqual(MONOMORPHIC);
  });

  it('a process started by bin/shahn.js keeps it', async () => {
    // The same exercise once the CLI is done (--help, then beforeExit).
    const probe = join(dir, 'probe.mjs');
    writeFileSync(probe, `let done = false;\nprocess.on('beforeExit', async () => {\n  if (done) return;\n  done = true;\n${EXERCISE}});\n`);
    expect(await literalSlotStates(['--import', pathToFileURL(probe).href, 'bin/shahn.js', '--help'])).toEqual(MONOMORPHIC);
  });
});
