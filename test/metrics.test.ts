/**
 * Operations: the health probes on the API's port (/livez answers while the process runs, /readyz
 * only when the store answers with the schema this code expects and the server is not shutting
 * down), and the Prometheus metrics on their own listener: requests by route (the check-id fast path
 * counted as its route), order transitions, open and uncertain orders, the outbox's backlog, the
 * PostgreSQL pool, and, through `shahn serve`, gateway calls and the process's own metrics.
 * Both stores: the probes and gauges read the test store (SQLite or PostgreSQL).
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_SCHEMA_VERSION } from '../src/store/migrations.js';
import { startMetricsServer, type MetricsServer } from '../src/runtime/metrics-server.js';
import type { OrderProcessor } from '../src/processor/order-processor.js';
import { call, expectEnvelope, freshDatabase, makeContext, TEST_STORE, tempDir, type TestContext } from './helpers.js';
import { ManualGateway, makeProcessor, silentLog, waitUntil } from './processor-helpers.js';
import { startServe } from './serve-process.js';

/** `name{labels} value` lines of a scrape, as a map from `name{labels}` to the value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('health probes', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await makeContext();
  });
  afterEach(async () => {
    await ctx.close();
  });

  it('/livez answers while the process runs; /readyz says ready, or 503 with the reason: store unreachable, schema not current, shutting down', async () => {
    const live = await call(ctx, 'GET', '/livez');
    expect(live.status).toBe(200);
    expect(live.body.data).toEqual({ status: 'live' });
    const ready = await call(ctx, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.data).toEqual({ status: 'ready', store: TEST_STORE, schemaVersion: LATEST_SCHEMA_VERSION });

    const ping = ctx.deps.store.ping;
    ctx.deps.store.ping = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    };
    try {
      const down = await call(ctx, 'GET', '/readyz');
      expectEnvelope(down);
      expect(down.status).toBe(503);
      expect(down.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { reason: 'store_unreachable' } });
      expect(down.body.error.message).toMatch(/ECONNREFUSED/);
      expect((await call(ctx, 'GET', '/livez')).status).toBe(200);
    } finally {
      ctx.deps.store.ping = ping;
    }

    // A store whose last migration is not applied (an upgrade that skipped `shahn migrate`).
    await ctx.sql.run('DELETE FROM schema_migrations WHERE version = ?', [LATEST_SCHEMA_VERSION]);
    const behind = await call(ctx, 'GET', '/readyz');
    expect(behind.status).toBe(503);
    expect(behind.body.error).toMatchObject({ details: { reason: 'schema_behind' } });
    expect(behind.body.error.message).toMatch(/shahn migrate/);
    await ctx.sql.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [LATEST_SCHEMA_VERSION, 'restored', Date.now()]);
    expect((await call(ctx, 'GET', '/readyz')).status).toBe(200);

    ctx.app.beginShutdown();
    const closing = await call(ctx, 'GET', '/readyz');
    expect(closing.status).toBe(503);
    expect(closing.body.error).toMatchObject({ details: { reason: 'shutting_down' } });
    expect((await call(ctx, 'GET', '/livez')).status).toBe(200);
  });
});

describe('metrics', () => {
  let ctx: TestContext;
  let metrics: MetricsServer | undefined;
  let processor: OrderProcessor | undefined;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000, env: { SHAHN_METRICS_PORT: '0' } });
    metrics = undefined;
    processor = undefined;
  });
  afterEach(async () => {
    await processor?.stop();
    await metrics?.close();
    await ctx.close();
  });

  it('requests by route (the fast path too), transitions, open and uncertain orders, the outbox backlog; never on the API port', async () => {
    metrics = await startMetricsServer(ctx.deps, silentLog);
    expect(metrics!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    const api = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
    const key = { 'x-access-token': ctx.merchant.productionKey, 'content-type': 'application/json' };
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${api}/v3/mobile/send`, { method: 'POST', headers: key, body: JSON.stringify({ plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: 100 }) });
      expect(r.status).toBe(200);
      ids.push(((await r.json()) as { data: { topupId: string } }).data.topupId);
    }
    const gw = new ManualGateway();
    processor = makeProcessor(ctx, gw);
    await processor.start();
    await gw.answer(ids[0]!, { kind: 'FULFILLED' });
    await gw.answer(ids[1]!, { kind: 'UNKNOWN', reason: 'garbled' });
    await waitUntil(async () => (await ctx.deps.store.console.countOpenOrders()).HANDLING === 1, 5_000, 'two answers recorded');
    // Reads: the first check-id of a key goes through fastify (the key is not cached yet), the next ones take the fast path.
    for (let i = 0; i < 4; i++) expect((await fetch(`${api}/v3/mobile/check-id/${ids[0]}`, { headers: key })).status).toBe(200);
    expect((await fetch(`${api}/no/such/route`)).status).toBe(404);
    expect(ctx.app.fastPathAnswered()).toBeGreaterThanOrEqual(3);

    // A modem pool's SIMs as their driver published them: one usable with its balance, one out of rotation.
    await ctx.deps.store.channels.publish('pool', 'w1', ctx.clock.now(), [
      { channel: 'dj-1', operator: 'Djezzy', usable: true, status: { state: 'ready', balance: 1234.5 } },
      { channel: 'dj-2', operator: 'Djezzy', usable: false, status: { state: 'gone', balance: null } },
    ], 60_000);

    const text = await (await fetch(metrics!.url)).text();
    const m = samples(text);
    expect(m.get('shahn_gateway_channel_usable{gateway="pool",channel="dj-1",operator="Djezzy"}')).toBe(1);
    expect(m.get('shahn_gateway_channel_usable{gateway="pool",channel="dj-2",operator="Djezzy"}')).toBe(0);
    expect(m.get('shahn_gateway_channel_balance_dzd{gateway="pool",channel="dj-1",operator="Djezzy"}')).toBe(1234.5);
    expect(m.has('shahn_gateway_channel_balance_dzd{gateway="pool",channel="dj-2",operator="Djezzy"}')).toBe(false);
    const env = 'env="PRODUCTION"';
    expect(m.get(`shahn_order_transitions_total{${env},status="PENDING"}`)).toBe(3);
    expect(m.get(`shahn_order_transitions_total{${env},status="HANDLING"}`)).toBe(3);
    expect(m.get(`shahn_order_transitions_total{${env},status="FULFILLED"}`)).toBe(1);
    expect(m.get(`shahn_order_transitions_total{${env},status="UNKNOWN_ERROR"}`)).toBe(1);
    expect(m.get('shahn_http_request_duration_seconds_count{route="/v3/mobile/check-id/:id",method="GET",status="200"}')).toBe(4);
    expect(m.get('shahn_http_request_duration_seconds_count{route="/v3/mobile/send",method="POST",status="200"}')).toBe(3);
    expect(m.get('shahn_http_request_duration_seconds_count{route="unmatched",method="GET",status="404"}')).toBe(1);
    expect(m.get('shahn_open_orders{status="HANDLING"}')).toBe(1);
    expect(m.get('shahn_open_orders{status="PENDING"}')).toBe(0);
    expect(m.get('shahn_uncertain_orders')).toBe(1);
    // The UNKNOWN_ERROR's support alert waits in the outbox (no alert dispatcher runs here).
    expect(m.get('shahn_outbox_backlog{kind="alert",state="pending"}')).toBe(1);
    expect(m.get('shahn_outbox_oldest_age_seconds{kind="alert"}')).toBeGreaterThanOrEqual(0);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(m.has('shahn_store_pool_connections{state="total"}')).toBe(TEST_STORE === 'postgres');
    await gw.answer(ids[2]!, { kind: 'FULFILLED' });

    // Every metric docs/operations.md and the Grafana dashboard name exists (the pool's on PostgreSQL only).
    const served = new Set([...text.matchAll(/^# HELP (\S+)/gm)].map((x) => x[1]!));
    if (TEST_STORE === 'sqlite') served.add('shahn_store_pool_connections');
    for (const file of ['docs/operations.md', 'docs/grafana-dashboard.json']) {
      const named = new Set([...readFileSync(file, 'utf8').matchAll(/\b((?:shahn|process|nodejs)_[a-z0-9_]+)/g)].map((x) => x[1]!.replace(/_(bucket|count|sum)$/, '')));
      expect(named.size, file).toBeGreaterThan(5);
      for (const name of named) expect(served.has(name), `${file} names ${name}`).toBe(true);
    }

    // Not on the API's port; the metrics listener serves nothing else.
    const onApi = await fetch(`${api}/metrics`);
    expect(onApi.status).toBe(404);
    expect(((await onApi.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    expect((await fetch(metrics!.url.replace('/metrics', '/'))).status).toBe(404);
  });
});

describe('metrics of `shahn serve`', () => {
  it('gateway calls by gateway, operator and outcome; the URL in the banner; SHAHN_METRICS_PORT must differ from PORT', async () => {
    const dir = tempDir();
    const fresh = await freshDatabase(dir);
    const simulator = join(dir, 'simulator.json');
    writeFileSync(simulator, JSON.stringify({ defaults: { latencyMs: { min: 10, max: 20 }, rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } } }));
    const server = await startServe({ SHAHN_DB: fresh.db, SHAHN_DEMO: 'true', SHAHN_METRICS_PORT: '0', SHAHN_SIMULATOR_CONFIG: simulator });
    try {
      const url = /Prometheus metrics: (http:\/\/\S+)/.exec(server.stdout())?.[1];
      expect(url, server.stdout()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const sent = await fetch(`${server.url}/v3/mobile/send`, {
        method: 'POST',
        headers: { 'x-access-token': server.productionKey!, 'content-type': 'application/json' },
        body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 }),
      });
      expect(sent.status).toBe(200);
      const calls = 'shahn_gateway_call_duration_seconds_count{gateway="simulator",operator="Djezzy",outcome="FULFILLED"}';
      // The call is counted when the gateway answers; the transition once the outcome is recorded, a moment later.
      const fulfilled = 'shahn_order_transitions_total{env="PRODUCTION",status="FULFILLED"}';
      await waitUntil(async () => samples(await (await fetch(url!)).text()).get(fulfilled) === 1, 10_000, 'the outcome recorded');
      const m = samples(await (await fetch(url!)).text());
      expect(m.get(calls)).toBe(1);
      expect(m.get('shahn_gateway_call_duration_seconds_bucket{le="+Inf",gateway="simulator",operator="Djezzy",outcome="FULFILLED"}')).toBe(1);
    } finally {
      await server.stop();
      await fresh.drop();
    }
    await expect(startServe({ SHAHN_DB: join(dir, 'other.db'), PORT: '3999', SHAHN_METRICS_PORT: '3999' })).rejects.toThrow(/SHAHN_METRICS_PORT \(3999\) must differ from PORT/);
  }, 60_000);
});
