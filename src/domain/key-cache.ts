/**
 * Key lookups are on every request, so they are cached in the process for config.keyCacheMs, by the
 * presented key (no hashing on a hit). A key disabled elsewhere (another process, the CLI) stops
 * working within that bound; one disabled in this process, at once (invalidate).
 */
import type { Clock } from '../lib/clock.js';
import { hashApiKey } from '../lib/ids.js';
import type { KeyRecord, Store } from '../store/store.js';
import { TtlCache } from './ttl-cache.js';

export class KeyCache {
  private readonly cache: TtlCache<string, KeyRecord>;

  constructor(
    private readonly store: Store,
    clock: Clock,
    ttlMs: number,
  ) {
    this.cache = new TtlCache(clock, ttlMs, 10_000);
  }

  /** The key's record, from the cache or the store (by its hash). */
  async find(presentedKey: string): Promise<KeyRecord | undefined> {
    const hit = this.cache.get(presentedKey);
    if (hit) return hit;
    const found = await this.store.accounts.findKeyByHash(hashApiKey(presentedKey));
    if (found) this.cache.set(presentedKey, found);
    return found;
  }

  /** The cached record only (the synchronous hot path); undefined on a miss. */
  peek(presentedKey: string): KeyRecord | undefined {
    return this.cache.get(presentedKey);
  }

  /** Forget a key at once (after it is disabled or rotated in this process). */
  invalidate(keyHash: string): void {
    this.cache.deleteWhere((record) => record.keyHash === keyHash);
  }
}
