/**
 * SQLite: WAL checkpoints run on a worker thread once a process takes sends
 * (src/store/sqlite/background-checkpoint.ts), not inside a send's commit.
 * Stores: SQLite only: WAL checkpoints are SQLite's own (PostgreSQL checkpoints itself).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMerchant } from '../src/domain/create-merchant.js';
import { prepareStore } from '../src/runtime/open-store.js';
import { newObjectId } from '../src/lib/ids.js';
import { openSqliteStore } from '../src/store/sqlite/open-sqlite-store.js';
import { tempDir } from './helpers.js';

describe('SQLite background checkpoints', () => {
  it('copy committed sends into the database file beside the requests, and stop with the store', async () => {
    const path = join(tempDir(), 'shahn.db');
    const store = openSqliteStore(path);
    await prepareStore(store);
    const clock = { now: () => Date.now() };
    const merchant = await createMerchant({ store, clock }, { username: '+213661000001', balance: 1_000_000 });
    const sizeBefore = statSync(path).size;
    let n = 0;
    // 10 group commits of 50 sends: fewer WAL pages than SQLite's automatic checkpoint (1,000) waits for,
    // so only the checkpointing thread can move pages into the database file.
    for (let c = 0; c < 10; c++) {
      await Promise.all(
        Array.from({ length: 50 }, () => {
          const now = clock.now();
          const i = n++;
          return store.orders.insertOrder(
            {
              id: newObjectId(now), merchantId: merchant.id, env: 'PRODUCTION', ref: `ck-${i}`, status: 'PENDING', planCode: 'PREPAID_DJEZZY',
              mssidn: `07${String(i).padStart(8, '0')}`, topupAmount: 10_000, charge: 10_000, createdAt: now, updatedAt: now, refundMessage: null,
              suggestedOffers: null, followOrderId: null, retryOrderId: null, sandboxScenario: null,
            },
            { entryId: newObjectId(now), note: 'ck' },
          );
        }),
      );
    }
    const deadline = Date.now() + 5_000;
    while (statSync(path).size <= sizeBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(statSync(path).size).toBeGreaterThan(sizeBefore);
    expect(await store.ledger.checkMoney()).toEqual([]);
    await store.close();
  });
});
