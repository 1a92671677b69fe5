/**
 * When to check an open order next, from the documented durations: PENDING 2–15 s, HANDLING 3–8 s,
 * 5–30 s in all. The first check comes when the sandbox's 5 s of PENDING end; then every 5 s while
 * the order is young, and less and less often for a straggler. With many orders open, a list page
 * read for the due ones also brings every other open order's status, for free.
 */
export interface Schedule {
  /** After the send. */
  firstCheckMs: number;
  /** [age limit, interval] pairs, in order; the last interval applies beyond. */
  intervals: readonly (readonly [number, number])[];
  /** How long after a send an order stays SENDING (unknown outcome) before it is checked by ref. */
  sendingCheckMs: number;
}

export const DEFAULT_SCHEDULE: Schedule = Object.freeze({
  firstCheckMs: 5_000,
  intervals: Object.freeze([
    [60_000, 5_000],
    [5 * 60_000, 15_000],
    [60 * 60_000, 60_000],
    [Number.POSITIVE_INFINITY, 5 * 60_000],
  ] as const),
  sendingCheckMs: 10_000,
});

export function nextCheckAt(schedule: Schedule, createdAt: number, now: number): number {
  const age = now - createdAt;
  for (const [limit, interval] of schedule.intervals) if (age < limit) return now + interval;
  return now + (schedule.intervals[schedule.intervals.length - 1]?.[1] ?? 60_000);
}
