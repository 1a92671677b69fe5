/**
 * SQLite: under a steady stream of sends the WAL starts over without the writing connection
 * checkpointing on the event loop: past the soft bound a group commit waits for the checkpointing
 * thread to copy every frame (src/store/sqlite/background-checkpoint.ts). The hard bound (SQLite's
 * automatic checkpoint on the writing connection) is set out of reach here, so only the drains can
 * keep the WAL short. Nothing is lost: every acknowledged send is in the store and the ledger audit
 * passes.
 * Stores: SQLite only: the WAL and its checkpoints are SQLite's own (PostgreSQL checkpoints itself).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMerchant } from '../src/domain/create-merchant.js';
import { prepareStore } from '../src/runtime/open-store.js';
import { newObjectId } from '../src/lib/ids.js';
import { openSqliteStore, walDrains } from '../src/store/sqlite/open-sqlite-store.js';
import { tempDir } from './helpers.js';

const PAGE = 4096;
/** A WAL frame: a page and its 24-byte header. */
const FRAME = PAGE + 24;
/** Sends per run: many soft bounds' worth of WAL frames. */
const SENDS = 12_000;

/** 12,000 sends in group commits of 50, one after the other, on a new store: the WAL's largest size in frames and the drains. */
async function sendSteadily(soft: number) {
  const path = join(tempDir(), 'shahn.db');
  const store = openSqliteStore(path, { orderCacheSize: 0, walBoundPages: { soft, hard: 1_000_000 } });
  await prepareStore(store);
  const clock = { now: () => Date.now() };
  const merchant = await createMerchant({ store, clock }, { username: '+213661000001', balance: 100_000_000 });
  let n = 0;
  let seed = 12345;
  let maxWal = 0;
  while (n < SENDS) {
    const acknowledged = await Promise.all(
      Array.from({ length: 50 }, () => {
        const now = clock.now();
        const i = n++;
        // Customers' numbers spread over the range, as in production: each send writes its own index page.
        seed = (seed * 16807) % 2147483647;
        return store.orders.insertOrder(
          {
            id: newObjectId(now), merchantId: merchant.id, env: 'PRODUCTION', ref: `wd-${i}`, status: 'PENDING', planCode: 'PREPAID_DJEZZY',
            mssidn: `07${String(seed % 100_000_000).padStart(8, '0')}`, topupAmount: 1_000, charge: 1_000, createdAt: now, updatedAt: now, refundMessage: null,
            suggestedOffers: null, followOrderId: null, retryOrderId: null, sandboxScenario: null,
          },
          { entryId: newObjectId(now), note: 'wd' },
        );
      }),
    );
    expect(acknowledged).toHaveLength(50);
    maxWal = Math.max(maxWal, statSync(`${path}-wal`).size);
  }
  const drains = { ...walDrains(store)! };
  const page = await store.orders.listOrders(merchant.id, 'PRODUCTION', { offset: 0, limit: 1 });
  expect(page.total).toBe(SENDS);
  expect(await store.ledger.checkMoney()).toEqual([]);
  await store.close();
  return { maxWalFrames: Math.round(maxWal / FRAME), drains };
}

describe('SQLite WAL drains', () => {
  it('start the WAL over under continuous sends, where without them it only grows; every send is kept', async () => {
    const drained = await sendSteadily(300);
    const undrained = await sendSteadily(1_000_000_000);
    expect(undrained.drains).toEqual({ drains: 0, completeDrains: 0 });
    expect(drained.drains.completeDrains).toBeGreaterThan(0);
    // Past the soft bound, then back to the start: a few hundred milliseconds of commits at most,
    // against every frame of the run without drains.
    expect(drained.maxWalFrames).toBeGreaterThan(300);
    expect(drained.maxWalFrames * 3).toBeLessThan(undrained.maxWalFrames);
  });
});
