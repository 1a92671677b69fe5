/**
 * Property test of the money invariants (ARCHITECTURE.md): thousands of orders, concurrent sends,
 * random gateway outcomes, timeouts, lost leases, processor restarts, late answers and support
 * decisions, on a test clock. After every step every invariant holds.
 * 40 random runs on SQLite, 12 on PostgreSQL (each step there costs round trips to a server that the
 * rest of the suite shares, and under the full suite's load a run takes up to 20 times as long as
 * alone; the operations are the same code on both stores).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMerchant } from '../src/domain/create-merchant.js';
import type { OrderProcessor } from '../src/processor/order-processor.js';
import { presentTopup } from '../src/domain/present.js';
import { resolveOrder } from '../src/support/resolve-order.js';
import { MESSAGES } from '@shahn/contract';
import { call, makeContext, TEST_STORE } from './helpers.js';
import { ManualGateway, makeProcessor, settle } from './processor-helpers.js';

type Action =
  | { t: 'send'; merchant: number; amount: number; count: number; dupRef: boolean }
  | { t: 'tick' }
  | { t: 'answer'; pick: number; outcome: 'FULFILLED' | 'REFUNDED' | 'UNKNOWN' | 'THROW' }
  | { t: 'restart' }
  | { t: 'advance'; ms: number }
  | { t: 'resolve'; pick: number; to: 'FULFILLED' | 'REFUNDED' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('send' as const), merchant: fc.integer({ min: 0, max: 1 }), amount: fc.integer({ min: 100, max: 3000 }), count: fc.integer({ min: 1, max: 40 }), dupRef: fc.boolean() }) },
  { weight: 3, arbitrary: fc.constant({ t: 'tick' as const }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('answer' as const), pick: fc.nat(), outcome: fc.constantFrom('FULFILLED' as const, 'REFUNDED' as const, 'UNKNOWN' as const, 'THROW' as const) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 900_000 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('resolve' as const), pick: fc.nat(), to: fc.constantFrom('FULFILLED' as const, 'REFUNDED' as const) }) },
);

const RUNS = TEST_STORE === 'postgres' ? 12 : 40;

describe('money invariants under concurrency, faults and restarts', () => {
  it('hold after every step', async () => {
    let totalOrders = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 20, maxLength: 70 }), async (actions) => {
        const ctx = await makeContext({ balance: 1_000_000 });
        const other = await createMerchant(ctx.deps, { username: '+213770000002', balance: 5_000 });
        const keys = [ctx.merchant.productionKey, other.productionKey];
        const gw = new ManualGateway();
        const processors: OrderProcessor[] = [];
        let generation = 0;
        const newProcessor = () => {
          const p = makeProcessor(ctx, gw, { owner: `w${generation++}`, leaseMs: 700_000, gatewayTimeoutMs: 600_000, concurrency: 40 });
          processors.push(p);
          return p;
        };
        let processor = newProcessor();
        const definitiveRefund = new Set<string>();
        const supportDecision = new Set<string>();
        let refSeq = 0;
        try {
          for (const a of actions) {
            switch (a.t) {
              case 'send': {
                const ref = `r-${refSeq++}`;
                const replies = await Promise.all(
                  Array.from({ length: a.count }, (_, i) =>
                    call(ctx, 'POST', '/v3/mobile/send', {
                      key: keys[a.merchant]!,
                      body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: a.amount, ...(a.dupRef ? { ref } : { ref: `${ref}-${i}` }) },
                    }),
                  ),
                );
                for (const r of replies) {
                  expect([200, 403]).toContain(r.status);
                  if (r.status === 403) expect(['INSUFFICIENT_BALANCE', 'DUPLICATED_REF']).toContain(r.body.error.code);
                }
                const accepted = replies.filter((r) => r.status === 200).length;
                if (a.dupRef) expect(accepted).toBeLessThanOrEqual(1);
                totalOrders += accepted;
                break;
              }
              case 'tick':
                await processor.tick();
                await settle();
                break;
              case 'answer': {
                const ids = [...gw.pending.keys()];
                if (ids.length === 0) break;
                const id = ids[a.pick % ids.length]!;
                if (a.outcome === 'FULFILLED') await gw.answer(id, { kind: 'FULFILLED' });
                else if (a.outcome === 'REFUNDED') {
                  definitiveRefund.add(id);
                  await gw.answer(id, { kind: 'REFUNDED', refundMessage: MESSAGES.WRONG_NUMBER });
                } else if (a.outcome === 'UNKNOWN') await gw.answer(id, { kind: 'UNKNOWN', reason: 'garbled' });
                else await gw.answer(id, new Error('timeout'));
                await settle();
                break;
              }
              case 'restart':
                processor = newProcessor(); // the old one is abandoned with its calls in flight
                break;
              case 'advance':
                ctx.clock.advance(a.ms);
                await processor.recover();
                break;
              case 'resolve': {
                const page = await ctx.deps.store.orders.listUncertainOrders({ offset: 0, limit: 100 });
                if (page.items.length === 0) break;
                const order = page.items[a.pick % page.items.length]!;
                await resolveOrder(ctx.deps, { actor: 'prop', orderId: order.id, to: a.to, reason: 'property test' });
                supportDecision.add(order.id);
                break;
              }
            }
            // --- invariants, after every step ---
            expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
            for (const [id, n] of gw.calls) expect(n, `order ${id} sent ${n} times`).toBe(1);
            for (const merchantId of [ctx.merchant.id, other.id]) {
              const page = await ctx.deps.store.orders.listOrders(merchantId, 'PRODUCTION', { offset: 0, limit: 100_000 });
              // A read by id (check-id) sees exactly what the table holds: every order on SQLite, whose reads
              // by id come from its order cache; on PostgreSQL, where a read by id is the table's own row, the
              // ten newest (a round trip each).
              const byId = new Set((ctx.deps.store.orders.syncReads ? page.items : page.items.slice(0, 10)).map((o) => o.id));
              for (const o of page.items) {
                if (byId.has(o.id)) {
                  const read = await ctx.deps.store.orders.findOrderById(merchantId, 'PRODUCTION', o.id);
                  const now = ctx.clock.now();
                  expect(read && presentTopup(read, now, ctx.config.sandbox), `check-id of ${o.id}`).toEqual(presentTopup(o, now, ctx.config.sandbox));
                }
                if (o.status === 'REFUNDED') {
                  expect(definitiveRefund.has(o.id) || supportDecision.has(o.id), `order ${o.id} refunded without a definitive answer or a decision`).toBe(true);
                }
              }
            }
          }
        } finally {
          // An order a processor claimed may still be on its way to the gateway (its call-started write is a
          // round trip on PostgreSQL): answer whatever arrives until no processor has anything in flight.
          while (processors.some((p) => p.active > 0)) {
            for (const id of [...gw.pending.keys()]) await gw.answer(id, new Error('test over'));
            await settle();
          }
          expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
          await ctx.close();
        }
      }),
      { numRuns: RUNS },
    );
    expect(totalOrders).toBeGreaterThan(RUNS * 25);
  }, 300_000);
});
