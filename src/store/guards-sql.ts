/** Statements of the state shared by API processes (brute-force guard), one text for both stores (sql-text.ts). */

/**
 * Count a failed attempt from an IP in one statement, so that parallel failures each see the ones
 * before them: $1 ip, $2 now, $3 window, $4 max failures, $5 block duration. A failure after the
 * window restarts the count; reaching the max blocks until now + block.
 */
export const RECORD_AUTH_FAILURE = `INSERT INTO auth_failures AS a (ip, failures, first_failure_at, blocked_until)
    VALUES ($1, 1, $2::bigint, CASE WHEN 1 >= $4::int THEN $2::bigint + $5::bigint ELSE 0 END)
  ON CONFLICT (ip) DO UPDATE SET
    failures = CASE WHEN $2::bigint - a.first_failure_at >= $3::bigint THEN 1 ELSE a.failures + 1 END,
    first_failure_at = CASE WHEN $2::bigint - a.first_failure_at >= $3::bigint THEN $2::bigint ELSE a.first_failure_at END,
    blocked_until = CASE
      WHEN (CASE WHEN $2::bigint - a.first_failure_at >= $3::bigint THEN 1 ELSE a.failures + 1 END) >= $4::int THEN $2::bigint + $5::bigint
      WHEN $2::bigint - a.first_failure_at >= $3::bigint THEN 0
      ELSE a.blocked_until END
  RETURNING failures, blocked_until`;

/** Rows that count no more (their window is over) and block nothing: $1 now - window, $2 now. */
export const PURGE_AUTH_FAILURES = 'DELETE FROM auth_failures WHERE first_failure_at <= $1 AND blocked_until <= $2';
