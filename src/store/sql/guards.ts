/** State shared by the API processes of one store: failed-key counts and blocks, live processes. */
import type { GuardsStore } from '../store.js';
import { all, one, run, type SqlDb } from '../sql.js';

/**
 * Count a failed attempt from an IP in one statement, so that parallel failures each see the ones
 * before them: $1 ip, $2 now, $3 window, $4 max failures, $5 block duration. A failure after the
 * window restarts the count; reaching the max blocks until now + block.
 */
const RECORD_AUTH_FAILURE = `INSERT INTO auth_failures AS a (ip, failures, first_failure_at, blocked_until)
    VALUES ($1, 1, $2::bigint, CASE WHEN 1 >= $4::int THEN $2::bigint + $5::bigint ELSE 0 END)
  ON CONFLICT (ip) DO UPDATE SET
    failures = CASE WHEN $2::bigint - a.first_failure_at >= $3::bigint THEN 1 ELSE a.failures + 1 END,
    first_failure_at = CASE WHEN $2::bigint - a.first_failure_at >= $3::bigint THEN $2::bigint ELSE a.first_failure_at END,
    blocked_until = CASE
      WHEN (CASE WHEN $2::bigint - a.first_failure_at >= $3::bigint THEN 1 ELSE a.failures + 1 END) >= $4::int THEN $2::bigint + $5::bigint
      WHEN $2::bigint - a.first_failure_at >= $3::bigint THEN 0
      ELSE a.blocked_until END
  RETURNING failures, blocked_until`;

export function makeGuardsStore(db: SqlDb): GuardsStore {
  return {
    recordAuthFailure: async (input) => {
      const r = await db.exec(one<{ failures: number; blocked_until: number }>(RECORD_AUTH_FAILURE, [input.ip, input.now, input.windowMs, input.max, input.blockMs]));
      return { failures: Number(r?.failures ?? 1), blockedUntil: Number(r?.blocked_until ?? 0) };
    },
    // Rows that count no more (their window is over) and block nothing; by the first failure's index, so
    // the cost is the number of expired rows, not the table's size.
    purgeAuthFailures: (now, windowMs) => db.exec(run('DELETE FROM auth_failures WHERE first_failure_at <= $1 AND blocked_until <= $2', [now - windowMs, now])),
    blockedIps: async (now) =>
      (await db.exec(all<{ ip: string; blocked_until: number }>('SELECT ip, blocked_until FROM auth_failures WHERE blocked_until > $1', [now]))).map((r) => ({
        ip: r.ip,
        blockedUntil: Number(r.blocked_until),
      })),
    heartbeat: (id, now, liveMs) =>
      db.exec((function* () {
        yield* run('INSERT INTO api_instances (id, seen_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at', [id, now]);
        yield* run('DELETE FROM api_instances WHERE seen_at < $1', [now - 10 * liveMs]);
        return Number((yield* one<{ n: number }>('SELECT COUNT(*) AS n FROM api_instances WHERE seen_at >= $1', [now - liveMs]))?.n ?? 1);
      })()),
    removeInstance: (id) => db.exec(run('DELETE FROM api_instances WHERE id = $1', [id])).then(() => undefined),
  };
}
