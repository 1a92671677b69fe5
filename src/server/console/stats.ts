/** The console's charts: orders per visible status over time, time to a final state, balance over time. */
import type { TopupStatus } from '@shahn/contract';
import { TOPUP_STATUSES } from '@shahn/contract/core';
import type { Deps } from '../../domain/deps.js';
import { centimesToDzd } from '../../lib/money.js';
import type { Env } from '../../store/store.js';

export interface StatusBucket {
  t: string;
  counts: Record<TopupStatus, number>;
}

const emptyCounts = () => Object.fromEntries(TOPUP_STATUSES.map((s) => [s, 0])) as Record<TopupStatus, number>;

/** Buckets covering the last `hours` (5 min for 1 h, 15 min up to 6 h, else 1 h), ending with the current one. */
function timeBuckets(now: number, hours: number) {
  const bucketMs = hours <= 1 ? 5 * 60_000 : hours <= 6 ? 15 * 60_000 : 60 * 60_000;
  const to = Math.floor(now / bucketMs) * bucketMs + bucketMs;
  const from = to - Math.ceil((hours * 3_600_000) / bucketMs) * bucketMs;
  return { from, to, bucketMs };
}

/** Rows (bucket start, status, count) into one entry per bucket with a count per status. */
function fillBuckets(window: { from: number; to: number; bucketMs: number }, rows: { bucket: number; status: TopupStatus; count: number }[]): StatusBucket[] {
  const buckets: StatusBucket[] = [];
  for (let t = window.from; t < window.to; t += window.bucketMs) buckets.push({ t: new Date(t).toISOString(), counts: emptyCounts() });
  for (const r of rows) {
    const b = buckets[Math.floor((r.bucket - window.from) / window.bucketMs)];
    if (b) b.counts[r.status] += r.count;
  }
  return buckets;
}

/** Orders created in the last `hours`, per bucket, by the status a reader sees now. */
export async function ordersOverTime(
  deps: Pick<Deps, 'store' | 'clock' | 'config'>,
  options: { merchantId?: string; env: Env; hours: number },
): Promise<{ bucketMinutes: number; buckets: StatusBucket[] }> {
  const now = deps.clock.now();
  const window = timeBuckets(now, options.hours);
  const rows = await deps.store.console.orderStats({
    ...(options.merchantId ? { merchantId: options.merchantId } : {}),
    env: options.env,
    ...window,
    now,
    timeline: deps.config.sandbox,
  });
  return { bucketMinutes: window.bucketMs / 60_000, buckets: fillBuckets(window, rows) };
}

/** Production orders of all merchants that became final in the last `hours`, per bucket and status; and the open ones now. */
export async function outcomesOverTime(deps: Pick<Deps, 'store' | 'clock'>, options: { hours: number }) {
  const window = timeBuckets(deps.clock.now(), options.hours);
  const rows = await deps.store.console.outcomeStats(window);
  return { bucketMinutes: window.bucketMs / 60_000, buckets: fillBuckets(window, rows), open: await deps.store.console.countOpenOrders() };
}

export const FINAL_TIME_BINS = [5, 10, 15, 20, 30, 60, 300] as const;

/** Production orders that reached a final state in the last `hours`: a histogram in seconds, median and p95. */
export async function timeToFinal(deps: Pick<Deps, 'store' | 'clock'>, options: { merchantId?: string; hours: number }) {
  const now = deps.clock.now();
  const ms = await deps.store.console.timesToFinal({
    ...(options.merchantId ? { merchantId: options.merchantId } : {}),
    from: now - options.hours * 3_600_000,
    to: now + 1,
    limit: 10_000,
  });
  const labels = [...FINAL_TIME_BINS.map((b, i) => `${i === 0 ? 0 : FINAL_TIME_BINS[i - 1]}–${b} s`), `> ${FINAL_TIME_BINS[FINAL_TIME_BINS.length - 1]} s`];
  const counts: number[] = labels.map(() => 0);
  for (const d of ms) {
    const i = FINAL_TIME_BINS.findIndex((b) => d < b * 1000);
    counts[i === -1 ? labels.length - 1 : i]! += 1;
  }
  const sorted = [...ms].sort((a, b) => a - b);
  const pct = (p: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! / 100) / 10 : null);
  return { orders: ms.length, medianSeconds: pct(0.5), p95Seconds: pct(0.95), bins: labels.map((label, i) => ({ label, count: counts[i]! })) };
}

/** The balance after each of the merchant's last 200 ledger entries, oldest first. */
export async function balanceOverTime(deps: Pick<Deps, 'store'>, merchantId: string) {
  const page = await deps.store.ledger.listLedger(merchantId, { offset: 0, limit: 200 });
  return page.items
    .map((e) => ({ t: new Date(e.time).toISOString(), balance: centimesToDzd(e.newBalance) }))
    .reverse();
}
