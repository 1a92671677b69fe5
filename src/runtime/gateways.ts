/** The gateways of a `serve` or `worker` process: SHAHN_GATEWAYS (or the default simulator), checked against the store's catalogue. */
import type { Config } from '../config.js';
import { CatalogueCache } from '../domain/catalogue-cache.js';
import type { Deps } from '../domain/deps.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { Log } from '../lib/log.js';
import { newObjectId } from '../lib/ids.js';
import { buildDeps } from './build-deps.js';
import type { GatewayRouter } from '../gateways/gateway-router.js';
import { defaultGatewaysConfig, loadGatewaysFile } from '../gateways/gateways-config.js';
import { makeGateways, type ModemRuntime, type RelayRuntime } from '../gateways/make-gateways.js';
import type { ReconcileSource } from '../gateways/relay/reconcile.js';
import { CHANNEL_STALE_MS } from '../gateways/gateway.js';
import type { ModemPoolHooks } from '../gateways/modem/modem-pool.js';
import { handleSimMessage } from '../processor/sim-messages.js';
import { recordedOf } from '../processor/order-processor.js';
import type { Store } from '../store/store.js';
import { auditRecord } from '../support/audit.js';

export interface GatewayProcess {
  /** Does this process drive the modems (it runs the order processor)? */
  drive: boolean;
  log: Log;
  /** An alert was written to the outbox (wake the dispatcher). */
  onAlert?: () => void;
  /** The time of records written to the store (alerts, messages, late answers); the system clock by default. */
  clock?: Clock;
}

/** A modem gateway's links to the store: SIM states published for every process, SIM alerts, SIM messages. */
export function modemRuntime(config: Config, store: Store, proc: GatewayProcess, windowMsOf: (gateway: string, operator: string) => number): ModemRuntime {
  const clock = proc.clock ?? systemClock;
  const now = () => Date.now(); // the SIMs' own timers (retries, busy time) run on real time
  const hooks = (gateway: string): ModemPoolHooks => ({
    log: proc.log,
    now,
    publish: (channels) =>
      store.channels.publish(gateway, config.workerId, clock.now(), channels.map((c) => ({ channel: c.channel, operator: c.operator, usable: c.usable, status: c.status as unknown as Record<string, unknown> })), CHANNEL_STALE_MS),
    alert: async (topic, sim, payload) => {
      const at = clock.now();
      await store.outbox.enqueueWithAudit(
        { id: newObjectId(at), kind: 'alert', topic, subject: sim, payload: { event: `sim.${topic.toLowerCase().replace(/^sim_/, '')}`, ...payload, at: new Date(at).toISOString() }, createdAt: at, attempts: 0, nextAttemptAt: at, deliveredAt: null, lastError: null },
        auditRecord(at, `gateway:${gateway}`, `sim.${topic.toLowerCase().replace(/^sim_/, '').replace(/_/g, '-')}`, sim, String(payload.reason ?? topic), payload),
      );
      proc.onAlert?.();
    },
    message: async (m) => {
      const result = await handleSimMessage({ store, clock, logger: proc.log, ...(proc.onAlert ? { onAlert: proc.onAlert } : {}) }, m, windowMsOf(gateway, m.operator));
      return result === 'keep' ? 'keep' : undefined;
    },
    unansweredCallAgo: async (sim, withinMs) => {
      const at = clock.now();
      const started = await store.orders.lastUnansweredCall(sim, at - withinMs);
      return started === null ? null : Math.max(0, at - started);
    },
  });
  return { drive: proc.drive, gatewayTimeoutMs: config.gatewayTimeoutMs, hooks, read: (gateway) => store.channels.list(gateway), now: () => clock.now(), log: proc.log };
}

/** What reconciliation reads of the store for one relay gateway. */
export function reconcileSource(store: Store, gateway: string): ReconcileSource {
  return {
    localOrders: (from, to) => store.orders.listByChannel(gateway, from, to, 1_000_000),
    findOrder: (id) => store.orders.findOrderAnywhere(id),
  };
}

/** A relay gateway's links to the store: its upstream's state published for every process, alerts, late answers. */
export function relayRuntime(config: Config, store: Store, proc: GatewayProcess): RelayRuntime {
  const clock = proc.clock ?? systemClock;
  return {
    drive: proc.drive,
    gatewayTimeoutMs: config.gatewayTimeoutMs,
    hooks: (gateway) => ({
      log: proc.log,
      now: () => clock.now(),
      publish: (status) =>
        store.channels.publish(gateway, config.workerId, clock.now(), [{ channel: gateway, operator: '*', usable: status.state === 'ready', status: status as unknown as Record<string, unknown> }], CHANNEL_STALE_MS),
      alert: async (topic, payload) => {
        const at = clock.now();
        const event = `upstream.${topic.toLowerCase().replace(/^upstream_/, '')}`;
        await store.outbox.enqueueWithAudit(
          { id: newObjectId(at), kind: 'alert', topic, subject: gateway, payload: { event, ...payload, at: new Date(at).toISOString() }, createdAt: at, attempts: 0, nextAttemptAt: at, deliveredAt: null, lastError: null },
          auditRecord(at, `gateway:${gateway}`, event.replace(/_/g, '-'), gateway, String(payload.reason ?? topic), payload),
        );
        proc.onAlert?.();
      },
      uncertain: async (since, limit) => (await store.orders.listUncertainByChannel(gateway, since, limit)).map((o) => ({ id: o.id, createdAt: o.createdAt })),
      settle: async (orderId, outcome) => {
        const order = await store.orders.findOrderAnywhere(orderId);
        if (!order || order.status !== 'UNKNOWN_ERROR') return 'ignored';
        const now = clock.now();
        const recorded = recordedOf(order, outcome, now);
        if (recorded.status !== 'FULFILLED' && recorded.status !== 'REFUNDED') return 'ignored';
        const result = await store.processing.recordOutcome({
          orderId,
          now,
          outcome: recorded,
          decide: (current) =>
            current.status === 'UNKNOWN_ERROR'
              ? { action: 'late', audit: { ...auditRecord(now, `gateway:${gateway}`, 'order.upstream-settled', orderId, `the upstream order settled ${recorded.status}`, {}), id: `${orderId}-upstream-${now}` } }
              : { action: 'ignore' },
        });
        return result === 'late' ? 'late' : 'ignored';
      },
      reconcile: reconcileSource(store, gateway),
    }),
  };
}

export async function openGateways(config: Config, store: Store, catalogue: CatalogueCache, proc: GatewayProcess): Promise<GatewayRouter> {
  const cfg = config.gateways ? loadGatewaysFile(config.gateways, config.secret) : defaultGatewaysConfig(config.simulatorConfig);
  const [operators, plans] = await Promise.all([store.catalogue.listOperators(), store.catalogue.listPlans()]);
  const windowMsOf = (gateway: string, operator: string) => {
    const g = cfg.gateways[gateway];
    return (g?.type === 'modem' ? g.operators[operator]?.sms?.windowMs : undefined) ?? 30 * 60_000;
  };
  return makeGateways(cfg, { operators, plans }, {
    catalogue: () => catalogue.get(),
    simulatorCallLog: config.simulatorCallLog,
    modem: modemRuntime(config, store, proc, windowMsOf),
    relay: relayRuntime(config, store, proc),
  });
}

/**
 * The deps of a `serve` or `worker` process over an opened store, with its gateway router (started:
 * a modem pool's ports are open); the store is closed when this fails.
 */
export async function wireProcess(config: Config, store: Store, proc: GatewayProcess): Promise<{ deps: Deps; gateways: GatewayRouter }> {
  try {
    const catalogue = new CatalogueCache(store, systemClock);
    const gateways = await openGateways(config, store, catalogue, proc);
    await gateways.start();
    const deps = buildDeps(config, store, { gateways, catalogue });
    gateways.onCall = (gateway, operator, outcome, seconds) => deps.metrics.gatewayCall(gateway, operator, outcome, seconds);
    return { deps, gateways };
  } catch (err) {
    await store.close();
    throw err;
  }
}
