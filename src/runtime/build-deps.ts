/** The Deps of a process, built whole from its config, its store and its gateways. */
import type { Config } from '../config.js';
import { BruteForceGuard } from '../domain/brute-force-guard.js';
import { CatalogueCache } from '../domain/catalogue-cache.js';
import type { Deps } from '../domain/deps.js';
import { KeyCache } from '../domain/key-cache.js';
import { RateLimiter } from '../domain/rate-limiter.js';
import { StaticGatewayHealth, type GatewayDirectory } from '../gateways/gateway.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { Metrics } from '../lib/metrics.js';
import { Signal } from '../lib/signal.js';
import type { Store } from '../store/store.js';

/**
 * `gateways`: the process's gateway router (`serve`, `worker`), or none for a command that sends
 * nothing (every operator reported up, no simulator). `catalogue`: the cache the gateways already
 * read, so that the process keeps one.
 */
export function buildDeps(config: Config, store: Store, options: { clock?: Clock; gateways?: GatewayDirectory; catalogue?: CatalogueCache } = {}): Deps {
  const clock = options.clock ?? systemClock;
  return Object.freeze({
    store,
    clock,
    config,
    catalogue: options.catalogue ?? new CatalogueCache(store, clock),
    keys: new KeyCache(store, clock, config.keyCacheMs),
    bruteForce: new BruteForceGuard(clock, store.guards),
    limiter: new RateLimiter(clock, config.rateLimit, config.rateLimitBurst),
    gateways: options.gateways ?? new StaticGatewayHealth(),
    queued: new Signal(),
    webhooksQueued: new Signal(),
    metrics: new Metrics(),
  });
}
