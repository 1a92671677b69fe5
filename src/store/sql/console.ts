/** The web console: logins, sessions and the charts' data. */
import type { ConsoleStore, OrderRecord } from '../store.js';
import { toConsoleLogin, visibleStatusSql, type ConsoleLoginRow } from '../rows.js';
import { all, one, run, type SqlDb } from '../sql.js';
import { insertAudit } from './common.js';

type SessionRow = ConsoleLoginRow & { token_hash: string; csrf_token: string; s_created_at: number; expires_at: number };
type BucketRow = { b: number; s: OrderRecord['status']; n: number };

export function makeConsoleStore(db: SqlDb): ConsoleStore {
  const buckets = (rows: BucketRow[], from: number, bucketMs: number) => rows.map((r) => ({ bucket: from + Number(r.b) * bucketMs, status: r.s, count: Number(r.n) }));
  return {
    setConsolePassword: (login, audit) =>
      db.transaction(function* () {
        const existing = yield* one<{ id: string }>('SELECT id FROM console_logins WHERE login = $1 FOR UPDATE', [login.login]);
        if (existing) {
          yield* run('UPDATE console_logins SET password_hash = $1, updated_at = $2 WHERE id = $3', [login.passwordHash, login.updatedAt, existing.id]);
          yield* run('DELETE FROM console_sessions WHERE login_id = $1', [existing.id]);
        } else {
          yield* run('INSERT INTO console_logins (id, role, login, subject_id, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
            login.id, login.role, login.login, login.subjectId, login.passwordHash, login.createdAt, login.updatedAt,
          ]);
        }
        yield* insertAudit(audit);
      }),
    findConsoleLogin: async (login) => {
      const r = await db.exec(one<ConsoleLoginRow>('SELECT * FROM console_logins WHERE login = $1', [login]));
      return r && toConsoleLogin(r);
    },
    createConsoleSession: (s) =>
      db.exec((function* () {
        yield* run('DELETE FROM console_sessions WHERE expires_at <= $1', [s.createdAt]);
        yield* run('INSERT INTO console_sessions (token_hash, login_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [
          s.tokenHash, s.loginId, s.csrfToken, s.createdAt, s.expiresAt,
        ]);
      })()),
    findConsoleSession: async (tokenHash, now) => {
      const r = await db.exec(one<SessionRow>(
        `SELECT s.token_hash, s.csrf_token, s.created_at AS s_created_at, s.expires_at, l.*
         FROM console_sessions s JOIN console_logins l ON l.id = s.login_id WHERE s.token_hash = $1 AND s.expires_at > $2`,
        [tokenHash, now],
      ));
      return r && { tokenHash: r.token_hash, csrfToken: r.csrf_token, createdAt: Number(r.s_created_at), expiresAt: Number(r.expires_at), login: toConsoleLogin(r) };
    },
    deleteConsoleSession: (tokenHash) => db.exec(run('DELETE FROM console_sessions WHERE token_hash = $1', [tokenHash])).then(() => undefined),

    orderStats: async (input) => {
      const t = input.timeline;
      const args: unknown[] = [input.from, input.bucketMs, input.now, input.env, input.to];
      const byMerchant = input.merchantId ? ` AND merchant_id = $${args.push(input.merchantId)}` : '';
      const rows = await db.exec(all<BucketRow>(
        `SELECT (created_at - $1::bigint) / $2::bigint AS b, ${visibleStatusSql('$3::bigint', t)} AS s, COUNT(*) AS n FROM orders
         WHERE env = $4 AND created_at >= $1::bigint AND created_at < $5::bigint${byMerchant} GROUP BY 1, 2 ORDER BY 1`,
        args,
      ));
      return buckets(rows, input.from, input.bucketMs);
    },
    outcomeStats: async (input) => {
      const rows = await db.exec(all<BucketRow>(
        `SELECT (final_at - $1::bigint) / $2::bigint AS b, status AS s, COUNT(*) AS n FROM orders
         WHERE final_at >= $1::bigint AND final_at < $3::bigint AND env = 'PRODUCTION' GROUP BY 1, 2 ORDER BY 1`,
        [input.from, input.bucketMs, input.to],
      ));
      return buckets(rows, input.from, input.bucketMs);
    },
    countOpenOrders: async () => {
      const r = await db.exec(one<{ pending: number; handling: number }>(
        `SELECT (SELECT COUNT(*) FROM orders WHERE status = 'PENDING' AND env = 'PRODUCTION') AS pending,
                (SELECT COUNT(*) FROM orders WHERE status = 'HANDLING') AS handling`,
      ));
      return { PENDING: Number(r?.pending ?? 0), HANDLING: Number(r?.handling ?? 0) };
    },
    timesToFinal: async (input) => {
      const args: unknown[] = [input.from, input.to, input.limit];
      const byMerchant = input.merchantId ? ` AND merchant_id = $${args.push(input.merchantId)}` : '';
      const rows = await db.exec(all<{ d: number }>(
        `SELECT final_at - created_at AS d FROM orders WHERE env = 'PRODUCTION' AND final_at >= $1 AND final_at < $2${byMerchant} ORDER BY final_at DESC LIMIT $3`,
        args,
      ));
      return rows.map((r) => Number(r.d));
    },
  };
}
