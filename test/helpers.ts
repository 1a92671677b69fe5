/**
 * Test helpers: a real SQLite file in a temp folder, a test clock, and the app driven by inject().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig, type Config } from '../src/config.js';
import { createMerchant, type CreatedMerchant } from '../src/domain/create-merchant.js';
import type { Deps } from '../src/domain/deps.js';
import { StaticGatewayHealth } from '../src/domain/gateway-health.js';
import { buildDeps, prepareStore } from '../src/domain/open-deps.js';
import { TestClock } from '../src/lib/clock.js';
import { buildApp, type ShahnApp } from '../src/server/build-app.js';
import { openSqliteStore } from '../src/store/sqlite/open-sqlite-store.js';

export interface TestContext {
  app: ShahnApp;
  deps: Deps;
  clock: TestClock;
  health: StaticGatewayHealth;
  config: Config;
  dir: string;
  dbPath: string;
  merchant: CreatedMerchant;
  close(): Promise<void>;
}

export function tempDir(prefix = 'shahn-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function makeContext(
  options: { env?: Record<string, string>; balance?: number; username?: string; config?: Partial<Config> } = {},
): Promise<TestContext> {
  const dir = tempDir();
  const dbPath = join(dir, 'shahn.db');
  const config = loadConfig({ SHAHN_DB: dbPath, SHAHN_LOG_LEVEL: 'silent', SHAHN_RATE_LIMIT: '100000', ...options.env }, options.config);
  const store = openSqliteStore(dbPath);
  await prepareStore(store);
  const clock = new TestClock(Date.parse('2026-03-01T10:00:00.000Z'));
  const health = new StaticGatewayHealth();
  const deps = buildDeps(config, store, { clock, gatewayHealth: health });
  const merchant = await createMerchant(deps, { username: options.username ?? '+213665983439', balance: options.balance ?? 10_000 });
  const app = await buildApp(deps, { logger: pino({ level: 'silent' }) });
  await app.ready();
  return {
    app,
    deps,
    clock,
    health,
    config,
    dir,
    dbPath,
    merchant,
    async close() {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export async function call(
  ctx: TestContext,
  method: 'GET' | 'POST',
  url: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string>; ip?: string } = {},
): Promise<Reply> {
  const res = await ctx.app.inject({
    method,
    url,
    headers: {
      ...(options.key !== undefined ? { 'x-access-token': options.key } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { payload: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
    ...(options.ip ? { remoteAddress: options.ip } : {}),
  });
  let body: unknown;
  try {
    body = res.json();
  } catch {
    body = res.body;
  }
  return { status: res.statusCode, headers: res.headers, body };
}

/** Every response is in the envelope, with requestId in the body equal to X-Request-Id. */
export function expectEnvelope(reply: Reply): void {
  const b = reply.body as { success?: unknown; requestId?: unknown };
  if (typeof b !== 'object' || b === null) throw new Error(`not a JSON envelope: ${String(reply.body)}`);
  if (typeof b.requestId !== 'string' || !/^req_\d+_[0-9a-f]+$/.test(b.requestId)) throw new Error(`bad requestId ${String(b.requestId)}`);
  if (reply.headers['x-request-id'] !== b.requestId) throw new Error('X-Request-Id header differs from body requestId');
  if (b.success !== (reply.status < 400)) throw new Error(`success=${String(b.success)} with HTTP ${reply.status}`);
}
