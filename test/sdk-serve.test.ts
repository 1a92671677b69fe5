/** @shahn/sdk against `shahn serve` (a child process on the suite's store) in real time, with the sandbox timeline shortened. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Shahn } from '@shahn/sdk';
import { freshDatabase, QUICK_SANDBOX } from './helpers.js';
import { startServe, type ServeProcess } from './serve-process.js';

describe('@shahn/sdk against `shahn serve` in real time', () => {
  let server: ServeProcess;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const fresh = await freshDatabase();
    drop = fresh.drop;
    server = await startServe({ SHAHN_DB: fresh.db, SHAHN_DEMO: 'true', ...QUICK_SANDBOX });
  });
  afterAll(async () => {
    await server?.stop();
    await drop?.();
  });

  it('the three test numbers and a normal number reach their final states', async () => {
    const c = new Shahn({ apiKey: server.sandboxKey!, baseUrl: server.url });
    const numbers = { '0778037340': 'FULFILLED', '0600000001': 'REFUNDED', '0600000002': 'REFUNDED', '0600000003': 'UNKNOWN_ERROR' } as const;
    const results = await Promise.all(
      Object.entries(numbers).map(async ([MSSIDN, status]) => {
        const sent = await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN, amount: 500 });
        const t = await c.mobile.waitForFinal(sent.topupId, { intervalMs: 200 });
        return [t.status, status];
      }),
    );
    for (const [got, want] of results) expect(got).toBe(want);
  }, 40_000);
});
