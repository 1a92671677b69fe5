import pg from 'pg';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

const PG_URL = process.env.SHAHN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The suites that run on both stores, the same tests parameterised by SHAHN_TEST_STORE. */
const BOTH_STORES = [
  'test/auth.test.ts',
  'test/send.test.ts',
  'test/sandbox.test.ts',
  'test/read.test.ts',
  'test/processor.test.ts',
  'test/support.test.ts',
  'test/money-properties.test.ts',
  'test/sdk.test.ts',
  'test/merchant-kit.test.ts',
  'test/fast-path.test.ts',
  'test/console-api.test.ts',
  'test/trust-proxy.test.ts',
  'test/gateways.test.ts',
  'test/serve-startup.test.ts',
  'test/postgres-*.test.ts',
];

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
  return {
    test: {
      testTimeout: 30_000,
      hookTimeout: 60_000,
      pool: 'forks' as const,
      // Most long tests wait on real time (sandbox timelines, child processes): run more files than cores.
      maxWorkers: 3,
      projects: [
        { extends: true as const, test: { name: 'sqlite', include: ['test/**/*.test.ts'], exclude: ['test/postgres-*.test.ts'], env: { SHAHN_TEST_STORE: 'sqlite' } } },
        ...(pgProblem
          ? []
          : [{ extends: true as const, test: { name: 'postgres', include: BOTH_STORES, env: { SHAHN_TEST_STORE: 'postgres', SHAHN_TEST_PG_URL: PG_URL }, globalSetup: ['test/pg-global-setup.ts'] } }]),
      ],
    },
  };
});
