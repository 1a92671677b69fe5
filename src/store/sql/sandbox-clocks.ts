/** Each merchant's sandbox clock (store.ts SandboxClockStore), one row per merchant that moved it. */
import type { SandboxClockStore, SyncOrderReads } from '../store.js';
import { clockChanged, one, run, type Op, type SqlDb } from '../sql.js';

export const SANDBOX_OFFSET = 'SELECT offset_ms FROM sandbox_clocks WHERE merchant_id = $1';

/** The merchant's offset (ms; 0 without a row). */
function* readOffset(merchantId: string): Op<number> {
  return Number((yield* one<{ offset_ms: number | string }>(SANDBOX_OFFSET, [merchantId]))?.offset_ms ?? 0);
}

/**
 * The merchant's offset inside a transaction that schedules sandbox webhook messages. On PostgreSQL the
 * merchant's row is locked for share, so that an advance (which locks it for update) waits for the
 * messages to be written and then moves them too, or has moved the clock before they read it.
 */
export function* offsetForScheduling(merchantId: string): Op<number> {
  yield* one('SELECT id FROM merchants WHERE id = $1 FOR SHARE', [merchantId]);
  return yield* readOffset(merchantId);
}

/** Move the due times of the merchant's undelivered sandbox webhook messages by `deltaMs` (negative: sooner). */
function* shiftSandboxMessages(merchantId: string, deltaMs: number): Op<void> {
  yield* run(
    `UPDATE outbox SET next_attempt_at = next_attempt_at + $1::bigint
     WHERE kind = 'webhook' AND delivered_at IS NULL
       AND subject IN (SELECT id FROM webhook_endpoints WHERE merchant_id = $2 AND env = 'SANDBOX')`,
    [deltaMs, merchantId],
  );
}

/** `syncReads` (SQLite): offsets are read through its cache, the one the check-id hot path reads. */
export function makeSandboxClockStore(db: SqlDb, syncReads?: SyncOrderReads): SandboxClockStore {
  return {
    offset: syncReads ? async (merchantId) => syncReads.sandboxOffset(merchantId) : (merchantId) => db.exec(readOffset(merchantId)),

    advance: (merchantId, ms, maxOffsetMs, now) =>
      db.transaction(function* () {
        yield* one('SELECT id FROM merchants WHERE id = $1 FOR UPDATE', [merchantId]);
        const current = yield* readOffset(merchantId);
        const next = current + ms;
        if (next > maxOffsetMs) return undefined;
        yield* clockChanged(merchantId);
        yield* run(
          `INSERT INTO sandbox_clocks (merchant_id, offset_ms, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (merchant_id) DO UPDATE SET offset_ms = $2, updated_at = $3`,
          [merchantId, next, now],
        );
        yield* shiftSandboxMessages(merchantId, -ms);
        return next;
      }),

    reset: (merchantId) =>
      db.transaction(function* () {
        yield* one('SELECT id FROM merchants WHERE id = $1 FOR UPDATE', [merchantId]);
        const current = yield* readOffset(merchantId);
        if (current === 0) return 0;
        yield* clockChanged(merchantId);
        yield* run('DELETE FROM sandbox_clocks WHERE merchant_id = $1', [merchantId]);
        yield* shiftSandboxMessages(merchantId, current);
        return current;
      }),
  };
}
