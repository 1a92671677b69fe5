/** @shahn/sdk against `shahn serve` (a child process on SQLite) in real time. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Shahn } from '@shahn/sdk';
import { tempDir } from './helpers.js';
import { startServe, type ServeProcess } from './serve-process.js';

describe('@shahn/sdk against `shahn serve` in real time', () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe({ SHAHN_DB: join(tempDir(), 'shahn.db') });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('the three test numbers and a normal number reach their final states', async () => {
    const c = new Shahn({ apiKey: server.sandboxKey!, baseUrl: server.url });
    const numbers = { '0778037340': 'FULFILLED', '0600000001': 'REFUNDED', '0600000002': 'REFUNDED', '0600000003': 'UNKNOWN_ERROR' } as const;
    const results = await Promise.all(
      Object.entries(numbers).map(async ([MSSIDN, status]) => {
        const sent = await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN, amount: 500 });
        const t = await c.mobile.waitForFinal(sent.topupId, { intervalMs: 1000 });
        return [t.status, status];
      }),
    );
    for (const [got, want] of results) expect(got).toBe(want);
  }, 40_000);
});
