/**
 * The ledger audit (store.ledger.checkMoney, also run on every backup's copy) finds each kind of
 * broken money it looks for: a balance that is not the sum of its entries, a charge of the wrong
 * amount, a missing charge, a REFUNDED order without its refund, entries for a sandbox order. The
 * database's own triggers refuse every one of these changes, so the test drops them first, as a
 * damaged or hand-edited store would be. On a sound store it finds nothing.
 * Both stores.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMerchant } from '../src/domain/create-merchant.js';
import { newObjectId } from '../src/lib/ids.js';
import type { Store } from '../src/store/store.js';
import { freshStore, tempDir, TEST_STORE } from './helpers.js';

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

async function placeOrders(store: Store, merchantId: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const now = Date.now();
    const id = newObjectId(now);
    await store.orders.insertOrder(
      {
        id, merchantId, env: 'PRODUCTION', ref: `audit-${i}`, status: 'PENDING', planCode: 'PREPAID_DJEZZY', mssidn: `07700000${String(i).padStart(2, '0')}`,
        topupAmount: 1_000 + i, charge: 1_000 + i, createdAt: now, updatedAt: now, refundMessage: null, suggestedOffers: null, followOrderId: null,
        retryOrderId: null, sandboxScenario: null,
      },
      { entryId: newObjectId(now), note: 'audit' },
    );
    ids.push(id);
  }
  return ids;
}

describe('the ledger audit', () => {
  it('finds nothing on a sound store, and each kind of broken money on a damaged one', async () => {
    const f = await freshStore(tempDir());
    cleanup.push(async () => {
      await f.store.close();
      await f.drop();
    });
    const clock = { now: () => Date.now() };
    const merchant = await createMerchant({ store: f.store, clock }, { username: '+213661000002', balance: 1_000_000 });
    const [wrongAmount, missing, refunded, sandbox, sound] = await placeOrders(f.store, merchant.id, 5);
    expect(await f.store.ledger.checkMoney()).toEqual([]);

    const triggers = ['ledger_entries_are_immutable', 'ledger_entries_are_permanent', 'order_transitions_follow_the_lifecycle', 'refunded_order_has_its_refund'];
    for (const t of triggers) {
      if (TEST_STORE === 'sqlite') await f.sql.run(`DROP TRIGGER IF EXISTS ${t}`);
      else await f.sql.run(`DROP TRIGGER IF EXISTS ${t} ON ${t.startsWith('ledger') ? 'ledger_entries' : 'orders'}`);
    }
    await f.sql.run(`UPDATE ledger_entries SET amount = amount + 1, new_balance = new_balance - 1 WHERE objid = ?`, [wrongAmount]);
    await f.sql.run(`DELETE FROM ledger_entries WHERE objid = ?`, [missing]);
    await f.sql.run(`UPDATE orders SET status = 'REFUNDED' WHERE id = ?`, [refunded]);
    await f.sql.run(`UPDATE orders SET env = 'SANDBOX', sandbox_scenario = 'FULFILLED' WHERE id = ?`, [sandbox]);

    const found = await f.store.ledger.checkMoney();
    const balance = (await f.sql.all(`SELECT balance FROM merchants WHERE id = ?`, [merchant.id]))[0]!.balance;
    // The balance still counts the original charges: one entry is gone (-1,001) and one is 1 more (+1).
    const entries = Number(balance) + 1_001 - 1;
    expect(found).toHaveLength(5);
    expect(found).toEqual(
      expect.arrayContaining([
        { merchantId: merchant.id, problem: `balance ${balance} != sum of entries ${entries}` },
        { orderId: wrongAmount, problem: '1 charge entries, expected 1' },
        { orderId: missing, problem: '0 charge entries, expected 1' },
        { orderId: refunded, problem: '0 refund entries for a REFUNDED order, expected 1' },
        { problem: '1 ledger entries for sandbox orders' },
      ]),
    );
    expect(JSON.stringify(found)).not.toContain(sound!);
  });
});
