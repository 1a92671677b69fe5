import type { Config } from '../config.js';
import type { GatewayDirectory } from '../gateways/gateway.js';
import type { Clock } from '../lib/clock.js';
import type { Metrics } from '../lib/metrics.js';
import type { Signal } from '../lib/signal.js';
import type { Store } from '../store/store.js';
import type { CatalogueCache } from './catalogue-cache.js';
import type { KeyCache } from './key-cache.js';
import type { BruteForceGuard } from './brute-force-guard.js';
import type { RateLimiter } from './rate-limiter.js';

/**
 * What domain functions receive: the store, the clock and the rest are passed in, never imported.
 * Built whole by runtime/build-deps.ts and never changed after.
 */
export interface Deps {
  readonly store: Store;
  readonly clock: Clock;
  readonly config: Config;
  readonly catalogue: CatalogueCache;
  readonly keys: KeyCache;
  readonly bruteForce: BruteForceGuard;
  readonly limiter: RateLimiter;
  /** /v3/ping's operator health and the simulator's runtime controls. */
  readonly gateways: GatewayDirectory;
  /** Rings after a production order is queued (wakes the in-process order processor). */
  readonly queued: Signal;
  /** Rings after webhook messages are written outside the processor (a test event): wakes the webhook dispatcher. */
  readonly webhooksQueued: Signal;
  /** The process's Prometheus metrics (served when SHAHN_METRICS_PORT is set). */
  readonly metrics: Metrics;
}
