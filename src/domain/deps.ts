import type { Config } from '../config.js';
import type { Clock } from '../lib/clock.js';
import type { Store } from '../store/store.js';
import type { CatalogueCache } from './catalogue-cache.js';
import type { GatewayHealth } from './gateway-health.js';
import type { KeyCache } from './key-cache.js';
import type { BruteForceGuard } from './brute-force-guard.js';
import type { RateLimiter } from './rate-limiter.js';

/** What domain functions receive: the store, the clock and the rest are passed in, never imported. */
export interface Deps {
  store: Store;
  clock: Clock;
  config: Config;
  catalogue: CatalogueCache;
  keys: KeyCache;
  bruteForce: BruteForceGuard;
  limiter: RateLimiter;
  gatewayHealth: GatewayHealth;
  /** Called after a production order is queued (wakes the in-process order processor). */
  notifyQueued?: () => void;
}
