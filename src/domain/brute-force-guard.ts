/**
 * The contract's brute-force rule: 5 failed key attempts from one IP within 15 minutes block that
 * IP for 15 minutes. Failures are counted in the store, so every API process of one store shares
 * them; each process keeps the blocked IPs in memory (its own blocks at once, the others' after its
 * next sync(), which `shahn serve` runs every second).
 */
import type { Clock } from '../lib/clock.js';
import type { Store } from '../store/store.js';

export const MAX_FAILED_ATTEMPTS = 5;
export const BLOCK_MS = 15 * 60 * 1000;
/** How often `shahn serve` refreshes the blocked IPs from the store (the cross-process bound). */
export const BLOCK_SYNC_MS = 1000;

export class BruteForceGuard {
  private blocked = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly store: Pick<Store, 'recordAuthFailure' | 'blockedIps'>,
  ) {}

  /** Seconds the IP stays blocked, or 0. */
  blockedFor(ip: string): number {
    const until = this.blocked.get(ip);
    if (until === undefined) return 0;
    const left = until - this.clock.now();
    if (left <= 0) {
      this.blocked.delete(ip);
      return 0;
    }
    return Math.ceil(left / 1000);
  }

  /** Record a failed attempt; returns how many attempts are left before the block. */
  async recordFailure(ip: string): Promise<number> {
    const now = this.clock.now();
    const r = await this.store.recordAuthFailure({ ip, now, windowMs: BLOCK_MS, max: MAX_FAILED_ATTEMPTS, blockMs: BLOCK_MS });
    if (r.blockedUntil > now) this.blocked.set(ip, r.blockedUntil);
    return Math.max(0, MAX_FAILED_ATTEMPTS - r.failures);
  }

  /** Take the blocks recorded by other processes. */
  async sync(): Promise<void> {
    const rows = await this.store.blockedIps(this.clock.now());
    this.blocked = new Map(rows.map((r) => [r.ip, r.blockedUntil]));
  }
}
