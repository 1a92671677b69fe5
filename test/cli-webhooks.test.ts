/**
 * `shahn webhooks …` end to end: the built CLI (bin/shahn.js, run in child processes) against
 * `shahn serve` on a real store and port, with a real receiver on loopback. add prints the secret once,
 * list shows the endpoint, test's ping reaches the receiver signed with that secret and shows in
 * deliveries, rotate-secret signs with the new one, replay delivers a sandbox top-up's event again
 * under its id, delete removes it; --json prints the data object; errors print the contract's code
 * on stderr with exit 1 (a refused URL, a read-only key adding, an unknown endpoint).
 * The CLI runs from dist/: `npm test` builds first; run alone, build first (`npx tsc -b tsconfig.build.json`).
 * Both stores: `shahn serve` runs on the test store (a SQLite file or a PostgreSQL database).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '@shahn/sdk';
import { loadConfig } from '../src/config.js';
import { createMerchant } from '../src/domain/create-merchant.js';
import { hashApiKey, newApiKey, newObjectId } from '../src/lib/ids.js';
import { buildDeps } from '../src/runtime/build-deps.js';
import { auditRecord } from '../src/support/audit.js';
import { freshStore, QUICK_SANDBOX, tempDir } from './helpers.js';
import { runCliAsync, startServe, type ServeProcess } from './serve-process.js';

interface Received {
  id: string;
  body: string;
  headers: IncomingMessage['headers'];
}

async function until<T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('shahn webhooks (the CLI against shahn serve)', () => {
  const dir = tempDir();
  let server: ServeProcess;
  let drop: () => Promise<void>;
  let receiver: Server;
  let hookUrl: string;
  const got: Received[] = [];
  let sandboxKey: string;
  let readOnlyKey: string;
  // The CLI as a merchant runs it: with --key and --url (never blocking this process, which runs the receiver).
  const cli = (args: string[], key = sandboxKey) => runCliAsync([...args, '--key', key, '--url', server.url]);

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push({ id: String(req.headers['webhook-id']), body, headers: req.headers });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/shahn`;

    // A merchant and, besides its two keys, a READ-ONLY sandbox key (as support would add one).
    const fresh = await freshStore(dir);
    drop = () => fresh.drop();
    const deps = buildDeps(loadConfig({ SHAHN_DB: fresh.db, SHAHN_LOG_LEVEL: 'silent' }), fresh.store);
    const merchant = await createMerchant(deps, { username: '+213661234500', balance: 1000 });
    sandboxKey = merchant.sandboxKey;
    readOnlyKey = newApiKey();
    const now = Date.now();
    const keyId = newObjectId(now);
    await fresh.store.accounts.insertKeyWithAudit(
      merchant.id,
      { id: keyId, keyHash: hashApiKey(readOnlyKey), type: 'SANDBOX', scope: 'READ-ONLY', isEnabled: true, allowedIps: [] },
      now,
      auditRecord(now, 'test', 'key.create', keyId, ''),
    );
    await fresh.store.close();
    server = await startServe({ SHAHN_DB: fresh.db, SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true', SHAHN_RATE_LIMIT: '100000', ...QUICK_SANDBOX });
  });
  afterAll(async () => {
    await server?.stop();
    await new Promise((r) => receiver?.close(r));
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('add, list, test, deliveries, delivery, enable, rotate-secret, replay, delete', async () => {
    const started = new Date(Date.now() - 1000).toISOString();

    // add: the endpoint on one line, then its secret, said to be shown only now.
    const add = await cli(['webhooks', 'add', '--endpoint-url', hookUrl, '--events', 'topup.fulfilled, topup.refunded', '--description', 'shop backend']);
    expect(add.status, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/shown only now/);
    const id = /Webhook endpoint added: (we_[0-9a-f]{24})\s/.exec(add.stdout)?.[1];
    expect(id).toBeDefined();
    const secret = /^\s+(whsec_\S+)$/m.exec(add.stdout)?.[1];
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    expect(add.stdout).toContain('events: topup.fulfilled,topup.refunded');

    // list: human (one line for the endpoint) and --json (the data object, no secret); a read-only key may list.
    const [list, listJson] = await Promise.all([cli(['webhooks', 'list']), cli(['webhooks', 'list', '--json'], readOnlyKey)]);
    expect(list.status, list.stderr).toBe(0);
    const line = list.stdout.split('\n').find((l) => l.includes(id!));
    expect(line).toContain(hookUrl);
    expect(line).toContain('events: topup.fulfilled,topup.refunded');
    expect(line).toContain('"shop backend"');
    expect(listJson.status, listJson.stderr).toBe(0);
    const listed = JSON.parse(listJson.stdout) as { items: Record<string, unknown>[] };
    expect(listed.items).toHaveLength(1);
    expect(listed.items[0]).toMatchObject({ id, url: hookUrl, events: ['topup.fulfilled', 'topup.refunded'], description: 'shop backend', disabledAt: null });
    expect(listed.items[0]).not.toHaveProperty('secret');

    // test: a ping reaches the receiver, signed with the secret add printed, and shows in deliveries.
    const test = await cli(['webhooks', 'test', id!]);
    expect(test.status, test.stderr).toBe(0);
    const eventId = /Test event (evt_[0-9a-f]{24})/.exec(test.stdout)?.[1];
    expect(eventId).toBeDefined();
    const ping = await until('the ping at the receiver', async () => got.find((g) => g.id === eventId));
    expect(verifyWebhook(ping.body, ping.headers, secret!)).toMatchObject({ type: 'ping' });
    await until('the ping delivered', async () => {
      const r = (await (await fetch(`${server.url}/v3/webhooks/${id}/deliveries`, { headers: { 'x-access-token': sandboxKey } })).json()) as { data: { items: { deliveredAt: string | null }[] } };
      return r.data.items[0]?.deliveredAt ? true : undefined;
    });
    // deliveries (--json and one a line) and rotate-secret: independent, run at once.
    const [deliveriesJson, deliveries, rotate] = await Promise.all([
      cli(['webhooks', 'deliveries', id!, '--json']),
      cli(['webhooks', 'deliveries', id!, '--page', '1', '--page-size', '5']),
      cli(['webhooks', 'rotate-secret', id!]),
    ]);
    expect(deliveriesJson.status, deliveriesJson.stderr).toBe(0);
    const page = JSON.parse(deliveriesJson.stdout) as { items: Record<string, unknown>[]; pagination: Record<string, number> };
    expect(page.pagination).toEqual({ page: 1, pageSize: 20, totalPages: 1, totalResults: 1 });
    expect(page.items[0]).toMatchObject({ eventId, type: 'ping', attempts: 1, lastStatusCode: 204, lastError: null, nextAttemptAt: null });
    expect(deliveries.status, deliveries.stderr).toBe(0);
    expect(deliveries.stdout).toContain('1 delivery to');
    expect(deliveries.stdout).toMatch(new RegExp(`${eventId}\\s+ping\\s+delivered \\S+\\s+attempts 1\\s+last: HTTP 204\\s+created \\S+\\s+delivery [0-9a-f]{24}$`, 'm'));
    // delivery: its one attempt, with the receiver's answer, and the body sent.
    const one = await cli(['webhooks', 'delivery', id!, String(page.items[0]!.id)]);
    expect(one.status, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^ {2}attempt 1 {2}\S+ {2}\d+ ms {2}HTTP 204/m);
    expect(one.stdout).toContain(`  body: {"type":"ping"`);
    const notDisabled = await cli(['webhooks', 'enable', id!]);
    expect(notDisabled.status).toBe(1);
    expect(notDisabled.stderr).toMatch(/ERR_VALIDATION: .*not_disabled/);

    // rotate-secret: a new secret, shown once; the next delivery verifies with it (and with the old one, for 24 h).
    expect(rotate.status, rotate.stderr).toBe(0);
    expect(rotate.stdout).toMatch(/shown only now/);
    const newSecret = /^\s+(whsec_\S+)$/m.exec(rotate.stdout)?.[1];
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(secret);
    expect(rotate.stdout).toMatch(/previous secret also signs deliveries until \d{4}-\d\d-\d\dT/);

    // replay: a sandbox top-up's topup.fulfilled arrives, then again under the same id.
    const sent = (await (
      await fetch(`${server.url}/v3/mobile/send`, {
        method: 'POST',
        headers: { 'x-access-token': sandboxKey, 'content-type': 'application/json' },
        body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 }),
      })
    ).json()) as { data: { topupId: string } };
    expect(sent.data.topupId).toMatch(/^[0-9a-f]{24}$/);
    const fulfilled = await until('topup.fulfilled at the receiver', async () => got.find((g) => g.body.includes('"topup.fulfilled"')));
    expect(verifyWebhook(fulfilled.body, fulfilled.headers, newSecret!)).toMatchObject({ data: { _id: sent.data.topupId } });
    expect(verifyWebhook(fulfilled.body, fulfilled.headers, secret!)).toMatchObject({ type: 'topup.fulfilled' });
    expect(got.some((g) => g.body.includes('"topup.handling"'))).toBe(false); // not subscribed
    const replay = await cli(['webhooks', 'replay', id!, '--from', started, '--to', new Date(Date.now() + 60_000).toISOString(), '--json']);
    expect(replay.status, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toEqual({ replayed: 1 });
    await until('the replayed event', async () => (got.filter((g) => g.id === fulfilled.id).length >= 2 ? true : undefined));

    // delete: gone from the list; the id is then not found.
    const del = await cli(['webhooks', 'delete', id!]);
    expect(del.status, del.stderr).toBe(0);
    expect(del.stdout).toContain(`Webhook endpoint ${id} deleted.`);
    const [empty, again] = await Promise.all([cli(['webhooks', 'list']), cli(['webhooks', 'test', id!])]);
    expect(empty.stdout).toContain('No webhook endpoints');
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^shahn: NOT_FOUND: Webhook endpoint not found/);
  }, 90_000); // about 20 CLI processes, each a Node start-up: 7 s alone, 30 s under the full suite's load

  it("errors: the contract's code and message on stderr, exit 1; nothing on stdout", async () => {
    // Independent calls, at once. No --key: commander's usage error (exit 2), before any request.
    const [ftp, readOnly, badKey, badWindow, noKey, nowhere] = await Promise.all([
      cli(['webhooks', 'add', '--endpoint-url', 'ftp://x']),
      cli(['webhooks', 'add', '--endpoint-url', hookUrl], readOnlyKey),
      cli(['webhooks', 'list'], 'not-a-key'),
      cli(['webhooks', 'replay', 'we_000000000000000000000000', '--from', 'yesterday', '--to', new Date().toISOString()]),
      runCliAsync(['webhooks', 'list', '--url', server.url]),
      runCliAsync(['webhooks', 'list', '--key', sandboxKey, '--url', 'http://127.0.0.1:9']),
    ]);
    expect(ftp.status).toBe(1);
    expect(ftp.stdout).toBe('');
    expect(ftp.stderr).toMatch(/^shahn: ERR_VALIDATION: body\/url must be an https:\/\/ URL/);
    expect(ftp.stderr).toContain('"reason":"url_refused"');

    expect(readOnly.status).toBe(1);
    expect(readOnly.stderr).toMatch(/^shahn: READ_ONLY_KEY: /);

    expect(badKey.status).toBe(1);
    expect(badKey.stderr).toContain('INVALID_ACCESS_TOKEN');

    expect(badWindow.status).toBe(1);
    expect(badWindow.stderr).toContain('ERR_VALIDATION');

    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toContain("required option '--key <key>' not specified");
    // No server there: said so, exit 1.
    expect(nowhere.status).toBe(1);
    expect(nowhere.stderr).toMatch(/^shahn: cannot reach http:\/\/127\.0\.0\.1:9\/v3\/webhooks/);
  }, 60_000); // a dozen CLI processes, as above
});
