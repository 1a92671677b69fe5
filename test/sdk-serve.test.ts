/**
 * @shahn/sdk against `shahn serve` (a child process on the suite's store): every sandbox test number
 * on the contract's timeline, moved on by the SDK's sandbox clock. Both stores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Shahn } from '@shahn/sdk';
import { freshDatabase } from './helpers.js';
import { startServe, type ServeProcess } from './serve-process.js';

describe('@shahn/sdk against `shahn serve`', () => {
  let server: ServeProcess;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const fresh = await freshDatabase();
    drop = fresh.drop;
    server = await startServe({ SHAHN_DB: fresh.db, SHAHN_DEMO: 'true' });
  });
  afterAll(async () => {
    await server?.stop();
    await drop?.();
  });

  it('every test number reaches its final state as the sandbox clock moves', async () => {
    const c = new Shahn({ apiKey: server.sandboxKey!, baseUrl: server.url });
    await c.sandbox.reset();
    const numbers = ['0778037340', '0600000001', '0600000002', '0600000003', '0600000004', '0600000005', '0600000006', '0600000007'] as const;
    // 0600000007's send is answered 500; the SDK finds its order by ref and answers with it.
    const sent = await Promise.all(numbers.map((MSSIDN) => c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN, amount: 500 })));
    const id = (n: (typeof numbers)[number]) => sent[numbers.indexOf(n)]!.topupId;
    expect((await c.mobile.checkId(id('0600000007'))).status).toBe('PENDING');
    expect(await c.sandbox.advance(16)).toMatchObject({ offsetSeconds: 16 });
    const first = ['0778037340', '0600000001', '0600000002', '0600000003', '0600000004', '0600000005', '0600000007'] as const;
    const finals = await Promise.all(first.map(async (n) => (await c.mobile.waitForFinal(id(n), { intervalMs: 200 })).status));
    expect(Object.fromEntries(first.map((n, i) => [n, finals[i]]))).toEqual({
      '0778037340': 'FULFILLED',
      '0600000001': 'REFUNDED',
      '0600000002': 'REFUNDED',
      '0600000003': 'UNKNOWN_ERROR',
      '0600000004': 'UNKNOWN_ERROR',
      '0600000005': 'UNKNOWN_ERROR',
      '0600000007': 'FULFILLED',
    });
    expect((await c.mobile.checkId(id('0600000006'))).status).toBe('PENDING');
    // An hour on: the late answers are in, the outage is over; 0600000003 waits for its 12 h.
    await c.sandbox.advance(3600);
    expect((await c.mobile.checkId(id('0600000004'))).status).toBe('FULFILLED');
    expect((await c.mobile.checkId(id('0600000005'))).status).toBe('REFUNDED');
    expect((await c.mobile.waitForFinal(id('0600000006'), { intervalMs: 200 })).status).toBe('FULFILLED');
    expect((await c.mobile.checkId(id('0600000003'))).status).toBe('UNKNOWN_ERROR');
    await c.sandbox.advance(12 * 3600);
    expect((await c.mobile.checkId(id('0600000003'))).status).toBe('REFUNDED');
    // One order per send: 0600000007's lost reply was not sent again.
    expect((await c.mobile.list({ page: 1, pageSize: 50 })).items).toHaveLength(numbers.length);
  });
});
