/** The gateways of a `serve` or `worker` process: SHAHN_GATEWAYS (or the default simulator), checked against the store's catalogue. */
import type { Config } from '../config.js';
import { CatalogueCache } from '../domain/catalogue-cache.js';
import type { Deps } from '../domain/deps.js';
import { systemClock } from '../lib/clock.js';
import { buildDeps } from './build-deps.js';
import type { GatewayRouter } from '../gateways/gateway-router.js';
import { defaultGatewaysConfig, loadGatewaysFile } from '../gateways/gateways-config.js';
import { makeGateways } from '../gateways/make-gateways.js';
import type { Store } from '../store/store.js';

export async function openGateways(config: Config, store: Store, catalogue: CatalogueCache): Promise<GatewayRouter> {
  const cfg = config.gateways ? loadGatewaysFile(config.gateways) : defaultGatewaysConfig(config.simulatorConfig);
  const [operators, plans] = await Promise.all([store.catalogue.listOperators(), store.catalogue.listPlans()]);
  return makeGateways(cfg, { operators, plans }, { catalogue: () => catalogue.get(), simulatorCallLog: config.simulatorCallLog });
}

/** The deps of a `serve` or `worker` process over an opened store, with its gateway router; the store is closed when this fails. */
export async function wireProcess(config: Config, store: Store): Promise<{ deps: Deps; gateways: GatewayRouter }> {
  try {
    const catalogue = new CatalogueCache(store, systemClock);
    const gateways = await openGateways(config, store, catalogue);
    return { deps: buildDeps(config, store, { gateways, catalogue }), gateways };
  } catch (err) {
    await store.close();
    throw err;
  }
}
