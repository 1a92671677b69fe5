/**
 * Per-key rate limiting: a token bucket per key, refilled at `ratePerSecond`, holding at most
 * `burst` tokens. With several API processes on one store, each enforces its share (rate / live
 * processes, from the store's heartbeat table): behind an even load balancer the sum is the
 * configured limit, with no shared write on the hot path.
 */
import type { Clock } from '../lib/clock.js';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;
  private ratePerSecond: number;
  private burst: number;

  constructor(
    private readonly clock: Clock,
    private readonly fullRate: number,
    private readonly fullBurst: number,
  ) {
    this.ratePerSecond = fullRate;
    this.burst = fullBurst;
  }

  get enabled(): boolean {
    return this.fullRate > 0;
  }

  /** This process's share when `processes` API processes serve the same store. */
  setShare(processes: number): void {
    const n = Math.max(1, Math.floor(processes));
    this.ratePerSecond = this.fullRate / n;
    this.burst = Math.max(1, this.fullBurst / n);
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

  /** Give back a token taken by a request that another handler will answer (and take for) instead. */
  untake(id: string): void {
    const b = this.buckets.get(id);
    if (b) b.tokens = Math.min(this.burst, b.tokens + 1);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    const fullAfterMs = (this.burst / this.ratePerSecond) * 1000;
    for (const [id, b] of this.buckets) if (now - b.at > fullAfterMs) this.buckets.delete(id);
  }
}
