/** The transactional outbox: messages claimed with a lease by the dispatchers of every process, delivered at least once. */
import type { AuditStore, ChannelsStore, OutboxStore } from '../store.js';
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
    backlog: async () =>
      (await db.exec(all<{ kind: string; pending: number | string | null; given_up: number | string | null; oldest: number | string | null }>(
        `SELECT kind, SUM(CASE WHEN next_attempt_at < $1::bigint THEN 1 ELSE 0 END) AS pending, SUM(CASE WHEN next_attempt_at >= $1::bigint THEN 1 ELSE 0 END) AS given_up,
                MIN(CASE WHEN next_attempt_at < $1::bigint THEN created_at END) AS oldest
         FROM outbox WHERE delivered_at IS NULL GROUP BY kind ORDER BY kind`,
        [Number.MAX_SAFE_INTEGER],
      ))).map((r) => ({ kind: r.kind, pending: Number(r.pending ?? 0), givenUp: Number(r.given_up ?? 0), oldestCreatedAt: r.oldest === null ? null : Number(r.oldest) })),
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

export function makeChannelsStore(db: SqlDb): ChannelsStore {
  return {
    // A row another process published recently is taken over only by a usable channel: a second
    // process that cannot open the ports does not hide the SIMs of the one that drives them.
    publish: (gateway, owner, now, channels, staleMs) =>
      db.transaction(function* () {
        for (const c of channels) {
          yield* run(
            `INSERT INTO gateway_channels (gateway, channel, operator, usable, status, owner, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (gateway, channel) DO UPDATE SET operator = excluded.operator, usable = excluded.usable, status = excluded.status,
               owner = excluded.owner, updated_at = excluded.updated_at
             WHERE gateway_channels.owner = excluded.owner OR excluded.usable = 1 OR gateway_channels.updated_at < $8`,
            [gateway, c.channel, c.operator, c.usable ? 1 : 0, JSON.stringify(c.status), owner, now, now - staleMs],
          );
        }
      }),
    list: async (gateway) =>
      (await db.exec(all<{ gateway: string; channel: string; operator: string; usable: number; status: string; owner: string; updated_at: number }>(
        gateway === undefined ? 'SELECT * FROM gateway_channels ORDER BY gateway, channel' : 'SELECT * FROM gateway_channels WHERE gateway = $1 ORDER BY channel',
        gateway === undefined ? [] : [gateway],
      ))).map((r) => ({ gateway: r.gateway, channel: r.channel, operator: r.operator, usable: Number(r.usable) === 1, status: JSON.parse(r.status) as Record<string, unknown>, owner: r.owner, updatedAt: Number(r.updated_at) })),
  };
}
