/**
 * The contract's brute-force rule: 5 failed key attempts from one IP within 15 minutes block that
 * IP for 15 minutes. Failures are counted in the store, so every API process of one store shares
 * them; each process keeps the blocked IPs in memory (its own blocks at once, the others' after its
 * next sync(), which `shahn serve` runs every second).
 *
 * The store counts a failure in one statement and returns the count, so the limit holds under
 * parallel guesses too: many requests may pass the in-memory check before the 5th failure is
 * recorded, but the 6th and later failures come back over the limit and are answered as blocked.
 * Expired rows are purged periodically (purge()), never on a failure's path.
 */
import type { Clock } from '../lib/clock.js';
import type { GuardsStore } from '../store/store.js';

export const MAX_FAILED_ATTEMPTS = 5;
export const BLOCK_MS = 15 * 60 * 1000;
/** How often `shahn serve` refreshes the blocked IPs from the store (the cross-process bound). */
export const BLOCK_SYNC_MS = 1000;

export class BruteForceGuard {
  private blocked = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly guards: Pick<GuardsStore, 'recordAuthFailure' | 'blockedIps' | 'purgeAuthFailures'>,
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

  /**
   * Record a failed attempt. `attemptsLeft`: failures left before the block (0: this one started it).
   * `blockedFor` > 0 (seconds): this failure came after the limit was reached (a parallel guess that
   * passed the in-memory check before the block was recorded): answer it as blocked.
   */
  async recordFailure(ip: string): Promise<{ attemptsLeft: number; blockedFor: number }> {
    const now = this.clock.now();
    const r = await this.guards.recordAuthFailure({ ip, now, windowMs: BLOCK_MS, max: MAX_FAILED_ATTEMPTS, blockMs: BLOCK_MS });
    if (r.blockedUntil > now) this.blocked.set(ip, r.blockedUntil);
    const over = r.failures > MAX_FAILED_ATTEMPTS && r.blockedUntil > now;
    return { attemptsLeft: Math.max(0, MAX_FAILED_ATTEMPTS - r.failures), blockedFor: over ? Math.ceil((r.blockedUntil - now) / 1000) : 0 };
  }

  /** Delete failure rows that no longer count (window over, not blocked). Returns how many went. */
  async purge(): Promise<number> {
    return this.guards.purgeAuthFailures(this.clock.now(), BLOCK_MS);
  }

  /** Take the blocks recorded by other processes. */
  async sync(): Promise<void> {
    const rows = await this.guards.blockedIps(this.clock.now());
    this.blocked = new Map(rows.map((r) => [r.ip, r.blockedUntil]));
  }
}
