/**
 * Webhooks through `shahn serve`: the server killed with SIGKILL while deliveries are in flight loses
 * no event; after the restart every event reaches the receiver, under the same webhook-id.
 * Both stores: `shahn serve` runs on the test store (a SQLite file or a PostgreSQL database).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyWebhook } from '@shahn/sdk';
import { freshDatabase, tempDir } from './helpers.js';
import { waitUntil } from './processor-helpers.js';
import { startServe, type ServeProcess } from './serve-process.js';

describe('webhooks through shahn serve', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('a SIGKILL mid-delivery loses no event: after the restart each one arrives, with its id', async () => {
    // The receiver holds every answer for 1.5 s: deliveries are in flight when the server dies.
    const got: { id: string; body: string; headers: IncomingMessage['headers'] }[] = [];
    const rx = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push({ id: String(req.headers['webhook-id']), body, headers: req.headers });
        setTimeout(() => res.writeHead(200).end(), 1_500);
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => rx.close(r)));
    const dir = tempDir();
    const fresh = await freshDatabase(dir);
    cleanup.push(() => fresh.drop());
    const simulator = join(dir, 'simulator.json');
    writeFileSync(simulator, JSON.stringify({ defaults: { latencyMs: { min: 50, max: 200 }, rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } } }));
    const env = {
      SHAHN_DB: fresh.db, SHAHN_DEMO: 'true', SHAHN_RATE_LIMIT: '100000', SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true', SHAHN_WEBHOOK_TIMEOUT_MS: '2000', SHAHN_SIMULATOR_CONFIG: simulator,
      SHAHN_GATEWAY_TIMEOUT_MS: '3000', SHAHN_LEASE_MS: '4000', SHAHN_RECOVERY_EVERY_MS: '250',
    };
    const serve = async () => {
      const s = await startServe(env);
      cleanup.push(() => s.stop('SIGKILL'));
      return s;
    };
    const a: ServeProcess = await serve();
    const key = a.productionKey!;
    const post = async (s: ServeProcess, path: string, body: unknown) =>
      (await (await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'x-access-token': key, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { success: boolean; data: Record<string, string> };
    const ep = await post(a, '/v3/webhooks', { url: `http://127.0.0.1:${(rx.address() as AddressInfo).port}/hook` });
    expect(ep.success).toBe(true);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await post(a, '/v3/mobile/send', { plan_code: 'PREPAID_MOBILIS', MSSIDN: `06612360${String(i).padStart(2, '0')}`, amount: 100 })).data.topupId!);
    // Deliveries held 1.5 s each by the receiver: 3 received and none answered yet.
    await waitUntil(() => got.length >= 3, 15_000, 'deliveries in flight');
    a.child.kill('SIGKILL');
    await a.exited;
    const seenBefore = new Set(got.map((g) => g.id));
    const b = await serve();
    // Every order ends final; every event the store wrote arrives, those cut off sent again under the same id.
    const written = async () => fresh.sql.all('SELECT id, order_id, type, sequence FROM webhook_events ORDER BY order_id, sequence');
    let state = '';
    await waitUntil(async () => {
      const rows = await written();
      const finals = rows.filter((r) => r.type !== 'topup.handling');
      const arrived = new Set(got.map((g) => g.id));
      const notResent = [...seenBefore].filter((id) => got.filter((g) => g.id === id).length < 2);
      const missing = rows.filter((r) => !arrived.has(String(r.id)));
      const finalOrders = new Set(finals.map((r) => r.order_id)).size;
      state = `${finalOrders} of ${ids.length} orders final; ${missing.length} of ${rows.length} events not arrived (${missing.map((r) => `${String(r.type)}#${String(r.sequence)}`).join(', ')}); ${notResent.length} of ${seenBefore.size} in flight at the kill not sent again`;
      return finalOrders === ids.length && missing.length === 0 && notResent.length === 0;
    }, 60_000, 'every event written and delivered, those in flight at the kill again').catch(async (err: Error) => {
      // What was left, to tell a stuck delivery from a stuck order.
      const outbox = await fresh.sql.all('SELECT kind, topic, subject, attempts, next_attempt_at, last_error FROM outbox WHERE delivered_at IS NULL').catch((e: Error) => [{ error: e.message }]);
      const open = await fresh.sql.all("SELECT id, status, lease_owner, lease_expires_at, attempts FROM orders WHERE status IN ('PENDING', 'HANDLING')").catch((e: Error) => [{ error: e.message }]);
      const warnings = b.stdout().split('\n').filter((l) => /"level":(4|5|6)0/.test(l)).slice(-20);
      throw new Error(`${err.message} at ${Date.now()}: ${state}; undelivered outbox rows: ${JSON.stringify(outbox)}; open orders: ${JSON.stringify(open)}; the restarted server's last warnings: ${warnings.join(' | ')}`);
    });
    const rows = await written();
    expect(new Set(rows.map((r) => r.order_id))).toEqual(new Set(ids));
    for (const g of got) expect(verifyWebhook(g.body, g.headers, ep.data.secret!)).toMatchObject({ data: { _id: expect.any(String) } });
    // An event seen twice is the same event (the same id and body): at least once, never a new id per attempt.
    const byId = new Map<string, string>();
    for (const g of got) {
      if (byId.has(g.id)) expect(g.body).toBe(byId.get(g.id));
      byId.set(g.id, g.body);
    }
    expect(byId.size).toBe(rows.length);
    // The deliveries in flight at the kill (received, not yet answered) were sent again after the restart.
    for (const id of seenBefore) expect(got.filter((g) => g.id === id).length, id).toBeGreaterThanOrEqual(2);
    expect(seenBefore.size).toBeGreaterThan(0);
  }, 120_000);
});
