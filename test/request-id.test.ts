/**
 * newRequestId (src/lib/ids.ts): the contract's `req_<unix-seconds>_<random>`, drawn from a pool of
 * random bytes that is refilled as it runs out.
 * Stores: SQLite only: no store is involved (one run is enough).
 */
import { describe, expect, it } from 'vitest';
import { newRequestId } from '../src/lib/ids.js';

describe('newRequestId', () => {
  it('is req_<unix-seconds>_<12 hex digits>, with the current second', () => {
    const before = Math.floor(Date.now() / 1000);
    const id = newRequestId();
    const after = Math.floor(Date.now() / 1000);
    const m = /^req_(\d+)_([0-9a-f]{12})$/.exec(id);
    expect(m, id).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(before);
    expect(Number(m![1])).toBeLessThanOrEqual(after);
  });

  it('does not repeat across many refills of its pool, and uses every hex digit in every place', () => {
    const n = 20_000; // the pool gives 682 ids before it is refilled
    const randoms = new Set<string>();
    const digits = Array.from({ length: 12 }, () => new Set<string>());
    for (let i = 0; i < n; i++) {
      const r = newRequestId().split('_')[2]!;
      randoms.add(r);
      for (let p = 0; p < 12; p++) digits[p]!.add(r[p]!);
    }
    expect(randoms.size).toBe(n);
    for (const d of digits) expect(d.size).toBe(16);
  });
});
