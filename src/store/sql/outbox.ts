/** The transactional outbox: messages claimed with a lease by the dispatchers of every process, delivered at least once. */
import type { AuditStore, OutboxStore } from '../store.js';
import { toAudit, toOutbox, type AuditRow, type OutboxRow } from '../rows.js';
import { all, run, type SqlDb } from '../sql.js';
import { insertAudit, insertOutbox, page } from './common.js';

export function makeOutboxStore(db: SqlDb): OutboxStore {
  return {
    enqueueWithAudit: (message, audit) =>
      db.transaction(function* () {
        yield* insertOutbox(message);
        yield* insertAudit(audit);
      }),
    listDue: async (kind, now, limit) =>
      (await db.exec(all<OutboxRow>('SELECT * FROM outbox WHERE kind = $1 AND delivered_at IS NULL AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3', [kind, now, limit]))).map(toOutbox),
    // A claim moves next_attempt_at past the lease: a dispatcher that dies mid-delivery leaves the
    // message to be taken again once the lease is over (at least once, never lost).
    claimDue: async (kind, now, limit, leaseMs) =>
      (await db.exec(all<OutboxRow>(
        `UPDATE outbox SET next_attempt_at = $1 WHERE id IN
           (SELECT id FROM outbox WHERE kind = $2 AND delivered_at IS NULL AND next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING *`,
        [now + leaseMs, kind, now, limit],
      ))).map(toOutbox),
    markDelivered: (id, now) => db.exec(run('UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2', [now, id])).then(() => undefined),
    markFailed: (id, nextAttemptAt, error) =>
      db.exec(run('UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3', [nextAttemptAt, error.slice(0, 500), id])).then(() => undefined),
  };
}

export function makeAuditStore(db: SqlDb): AuditStore {
  return {
    insertAudit: (audit) => db.exec(insertAudit(audit)),
    listAudit: (req) =>
      db.exec(
        req.target === undefined
          ? page('audit_log', 'TRUE', [], 'at', 'at DESC, id DESC', req, (r: AuditRow) => toAudit(r))
          : page('audit_log', 'target = $1', [req.target], 'at', 'at DESC, id DESC', req, (r: AuditRow) => toAudit(r)),
      ),
  };
}
