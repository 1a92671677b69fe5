/**
 * Key lookups are on every request, so they are cached in the process for config.keyCacheMs.
 * A key disabled elsewhere (another process, the CLI) stops working within that bound.
 */
import type { Clock } from '../lib/clock.js';
import type { KeyRecord, Store } from '../store/store.js';
import { TtlCache } from './ttl-cache.js';

export class KeyCache {
  private readonly cache: TtlCache<string, KeyRecord>;

  constructor(
    private readonly store: Store,
    clock: Clock,
    ttlMs: number,
  ) {
    this.cache = new TtlCache(clock, ttlMs);
  }

  async find(keyHash: string): Promise<KeyRecord | undefined> {
    const hit = this.cache.get(keyHash);
    if (hit) return hit;
    const found = await this.store.findKeyByHash(keyHash);
    if (found) this.cache.set(keyHash, found);
    return found;
  }

  /** Forget a key at once (after it is disabled or rotated in this process). */
  invalidate(keyHash: string): void {
    this.cache.delete(keyHash);
  }
}
