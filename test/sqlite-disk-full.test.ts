/**
 * SQLite: a full disk in the middle of a group commit of sends. SQLite rolls back the whole
 * transaction on such an error; the batch must then fail as a whole (every caller gets the error),
 * and no order of it may be committed on its own afterwards.
 * Stores: SQLite only: the group commit and `max_page_count` are SQLite's own.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMerchant } from '../src/domain/create-merchant.js';
import { prepareStore } from '../src/runtime/open-store.js';
import { newObjectId } from '../src/lib/ids.js';
import { openSqliteStore } from '../src/store/sqlite/open-sqlite-store.js';
import type { OrderRecord } from '../src/store/store.js';
import { tempDir } from './helpers.js';

describe('SQLite group commit on a full disk', () => {
  it('fails the whole batch: nothing charged, nothing recorded, every caller told', async () => {
    const path = join(tempDir(), 'shahn.db');
    const clock = { now: () => Date.now() };
    const setup = openSqliteStore(path);
    await prepareStore(setup);
    const merchant = await createMerchant({ store: setup, clock }, { username: '+213661000009', balance: 10_000 });
    await setup.close();
    const raw = new Database(path);
    raw.pragma('wal_checkpoint(TRUNCATE)');
    const pages = raw.pragma('page_count', { simple: true }) as number;
    raw.close();

    // Room for a few small orders, not for one with a 400 KB field.
    const store = openSqliteStore(path, { maxPageCount: pages + 8 });
    try {
      const now = clock.now();
      const order = (ref: string, big = false): OrderRecord => ({
        id: newObjectId(now), merchantId: merchant.id, env: 'PRODUCTION', ref, status: 'PENDING', planCode: 'PREPAID_DJEZZY', mssidn: '0778037340',
        topupAmount: 10_000, charge: 10_000, createdAt: now, updatedAt: now, refundMessage: big ? 'x'.repeat(400_000) : null, suggestedOffers: null,
        followOrderId: null, retryOrderId: null, sandboxScenario: null,
      });
      const results = await Promise.allSettled([
        store.orders.insertOrder(order('full-1'), { entryId: newObjectId(now), note: 'a' }),
        store.orders.insertOrder(order('full-2', true), { entryId: newObjectId(now), note: 'b' }),
        store.orders.insertOrder(order('full-3'), { entryId: newObjectId(now), note: 'c' }),
        store.orders.insertOrder(order('full-4'), { entryId: newObjectId(now), note: 'd' }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/full/);
      expect((await store.orders.listOrders(merchant.id, 'PRODUCTION', { offset: 0, limit: 10 })).total).toBe(0);
      expect((await store.accounts.findMerchantById(merchant.id))?.balance).toBe(1_000_000);
      expect(await store.ledger.checkMoney()).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
