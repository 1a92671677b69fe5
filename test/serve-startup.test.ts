/**
 * How `shahn serve` starts, through the built CLI: demo data (a funded production key, an admin token,
 * console passwords) only on a fresh SQLite store served on loopback unless SHAHN_DEMO=true asks for
 * it, credentials never inside a JSON log line, and a store that cannot be opened is one clear line
 * naming it, with a non-zero exit code and no stack trace.
 *
 * Runs in both projects: the SQLite project checks SQLite's cases, the PostgreSQL project checks a
 * fresh PostgreSQL database and an unreachable server.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freshStore, TEST_STORE, tempDir } from './helpers.js';
import { runCliAsync, startServe, type ServeProcess } from './serve-process.js';

/** stdout lines that are JSON log records. */
const jsonLines = (out: string) => out.split('\n').filter((l) => l.startsWith('{'));

function expectOneClearLine(r: { status: number | null; stderr: string }, mention: string): void {
  expect(r.status).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toContain(mention);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toContain('unexpected error');
}

describe('shahn serve: demo data and store errors', () => {
  let server: ServeProcess | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  describe.runIf(TEST_STORE === 'sqlite')('SQLite', () => {
    it('a fresh store on loopback gets the demo; its credentials are printed once, never inside a JSON log line', async () => {
      server = await startServe({ SHAHN_DB: join(tempDir(), 'shahn.db'), SHAHN_LOG_LEVEL: 'info' });
      expect(server.productionKey).toMatch(/^[0-9a-f-]{36}$/);
      const out = server.stdout();
      const token = /admin token:\s+(\S+)/.exec(out)?.[1];
      const passwords = [...out.matchAll(/password: (\S+)/g)].map((m) => m[1]!);
      expect(token).toMatch(/^shahn_admin_/);
      expect(passwords).toHaveLength(2);
      await fetch(`${server.url}/v3/validate`, { headers: { 'x-access-token': server.sandboxKey! } });
      await new Promise((r) => setTimeout(r, 100));
      const json = jsonLines(server.stdout() + server.stderr());
      expect(json.length).toBeGreaterThan(0);
      for (const secret of [server.sandboxKey!, server.productionKey!, token!, ...passwords]) {
        for (const line of json) expect(line).not.toContain(secret);
      }
    });

    it('bound to a non-loopback address: no demo unless SHAHN_DEMO=true asks for it', async () => {
      server = await startServe({ SHAHN_DB: join(tempDir(), 'shahn.db'), HOST: '0.0.0.0' });
      expect(server.productionKey).toBeUndefined();
      expect(server.stdout()).not.toMatch(/admin token|password:/);
      expect(server.stdout()).toContain('No demo merchant was created (the API listens on 0.0.0.0, not on loopback');
      await server.stop();
      server = await startServe({ SHAHN_DB: join(tempDir(), 'shahn.db'), HOST: '0.0.0.0', SHAHN_DEMO: 'true' });
      expect(server.productionKey).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('a path through a file, and a folder as the store: one line naming the path and what to do', async () => {
      const throughFile = await runCliAsync(['serve'], { SHAHN_DB: '/etc/passwd/x.db', PORT: '0' });
      expectOneClearLine(throughFile, 'Cannot open the SQLite store at "/etc/passwd/x.db": a part of the path is a file, not a folder');
      const dir = tempDir();
      mkdirSync(join(dir, 'store.db'));
      const folder = await runCliAsync(['merchant', 'create', '--username', '+213661234567', '--db', join(dir, 'store.db')]);
      expectOneClearLine(folder, `Cannot open the SQLite store at "${join(dir, 'store.db')}": it is a folder, not a file`);
      const notDb = await runCliAsync(['migrate', '--db', '/etc/hostname']);
      expectOneClearLine(notDb, 'Cannot open the SQLite store at "/etc/hostname"');
    });
  });

  describe.runIf(TEST_STORE === 'postgres')('PostgreSQL', () => {
    it('a fresh PostgreSQL database gets no demo (SHAHN_DEMO=true would make one)', async () => {
      const fresh = await freshStore(tempDir());
      try {
        await fresh.store.close();
        server = await startServe({ SHAHN_DB: fresh.db });
        expect(server.productionKey).toBeUndefined();
        expect(server.stdout()).toContain('No demo merchant was created (the store is PostgreSQL');
        expect((await fresh.sql.all('SELECT COUNT(*)::int AS n FROM merchants'))[0]!.n).toBe(0);
      } finally {
        await server?.stop();
        server = undefined;
        await fresh.drop();
      }
    });

    it('an unreachable server: one line naming the store (without its password)', async () => {
      const r = await runCliAsync(['serve'], { SHAHN_DB: 'postgres://shahn:s3cret@127.0.0.1:1/shahn', PORT: '0', SHAHN_PG_CONNECT_TIMEOUT_MS: '2000' });
      expectOneClearLine(r, 'Cannot reach the PostgreSQL store at postgres://shahn:***@127.0.0.1:1/shahn');
      expect(r.stderr).not.toContain('s3cret');
    });
  });
});
