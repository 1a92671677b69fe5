/**
 * Per-key rate limiting: a token bucket per key, refilled at `ratePerSecond`, holding at most
 * `burst` tokens. State is per process (issue 5 shares it across processes).
 */
import type { Clock } from '../lib/clock.js';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    private readonly clock: Clock,
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {}

  get enabled(): boolean {
    return this.ratePerSecond > 0;
  }

  /** Take one token for `id`. Returns 0 when allowed, else the whole seconds to wait (≥ 1). */
  take(id: string): number {
    if (!this.enabled) return 0;
    const now = this.clock.now();
    let b = this.buckets.get(id);
    if (!b) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(id, b);
      this.sweep(now);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.ratePerSecond);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerSecond));
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    const fullAfterMs = (this.burst / this.ratePerSecond) * 1000;
    for (const [id, b] of this.buckets) if (now - b.at > fullAfterMs) this.buckets.delete(id);
  }
}
