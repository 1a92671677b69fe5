/**
 * The contract's brute-force rule: 5 failed key attempts from one IP within the window block that
 * IP for 15 minutes. State is per process (issue 5 moves it to a shared store).
 */
import type { Clock } from '../lib/clock.js';

export const MAX_FAILED_ATTEMPTS = 5;
export const BLOCK_MS = 15 * 60 * 1000;

interface Entry {
  failures: number;
  firstFailureAt: number;
  blockedUntil: number;
}

export class BruteForceGuard {
  private readonly entries = new Map<string, Entry>();
  private lastSweep = 0;

  constructor(private readonly clock: Clock) {}

  /** Seconds the IP stays blocked, or 0. */
  blockedFor(ip: string): number {
    const e = this.entries.get(ip);
    if (!e) return 0;
    const left = e.blockedUntil - this.clock.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Record a failed attempt; returns how many attempts are left before the block. */
  recordFailure(ip: string): number {
    const now = this.clock.now();
    this.sweep(now);
    let e = this.entries.get(ip);
    if (!e || now - e.firstFailureAt >= BLOCK_MS) {
      e = { failures: 0, firstFailureAt: now, blockedUntil: 0 };
      this.entries.set(ip, e);
    }
    e.failures += 1;
    if (e.failures >= MAX_FAILED_ATTEMPTS) e.blockedUntil = now + BLOCK_MS;
    return Math.max(0, MAX_FAILED_ATTEMPTS - e.failures);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [ip, e] of this.entries) {
      if (e.blockedUntil <= now && now - e.firstFailureAt >= BLOCK_MS) this.entries.delete(ip);
    }
  }
}
