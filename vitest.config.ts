import { existsSync, readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

const PG_URL = process.env.SHAHN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Every test file runs on both stores (projects `sqlite` and `postgres`), unless its leading comment
 * has a line `Stores: SQLite only …` or `Stores: PostgreSQL only …` saying why not.
 */
function storeOnly(file: string): 'sqlite' | 'postgres' | undefined {
  const m = /^\s*\*\s*Stores: (SQLite|PostgreSQL) only\b/m.exec(readFileSync(file, 'utf8').slice(0, 4000));
  return m ? (m[1] === 'SQLite' ? 'sqlite' : 'postgres') : undefined;
}
const testFiles = readdirSync('test').filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`);
const onlyOn = (store: 'sqlite' | 'postgres') => testFiles.filter((f) => storeOnly(f) === store);

/** Files whose leading comment says `Needs: socat` (fake modems on pseudo-terminal pairs). */
const needSocat = testFiles.filter((f) => /^\s*\*\s*Needs: socat\b/m.test(readFileSync(f, 'utf8').slice(0, 4000)));
const socat = ['/usr/bin/socat', '/usr/local/bin/socat', '/bin/socat'].some((p) => existsSync(p));

async function postgresReachable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export default defineConfig(async (): Promise<ViteUserConfig> => {
  const pgProblem = await postgresReachable();
  if (pgProblem) {
    if (process.env.CI) throw new Error(`PostgreSQL is required in CI and is not reachable at ${PG_URL}: ${pgProblem}`);
    console.warn(`\n*** The PostgreSQL suite was SKIPPED: no PostgreSQL at ${PG_URL} (${pgProblem}). Only the SQLite suites ran. ***\n`);
  }
  if (!socat) {
    if (process.env.CI) throw new Error('socat is required in CI (the modem tests use pseudo-terminal pairs): run scripts/ensure-debian-packages.sh socat');
    console.warn(`\n*** The modem suites were SKIPPED: socat is not installed (${needSocat.join(', ')}). Install it with scripts/ensure-debian-packages.sh socat. ***\n`);
  }
  const skipped = socat ? [] : needSocat;
  return {
    test: {
      testTimeout: 30_000,
      hookTimeout: 60_000,
      pool: 'forks' as const,
      // A worker keeps its imported modules from one test file to the next (fastify, TypeBox and the
      // stores cost about a second of CPU to import): each file still builds its own stores and apps.
      isolate: false,
      // Most long tests wait on child processes and the network, not the CPU: run more files than cores.
      maxWorkers: 5,
      projects: [
        { extends: true as const, test: { name: 'sqlite', include: ['test/**/*.test.ts'], exclude: [...onlyOn('postgres'), ...skipped], env: { SHAHN_TEST_STORE: 'sqlite' } } },
        ...(pgProblem
          ? []
          : [
              {
                extends: true as const,
                test: { name: 'postgres', include: ['test/**/*.test.ts'], exclude: [...onlyOn('sqlite'), ...skipped], env: { SHAHN_TEST_STORE: 'postgres', SHAHN_TEST_PG_URL: PG_URL }, globalSetup: ['test/pg-global-setup.ts'] },
              },
            ]),
      ],
    },
  };
});
