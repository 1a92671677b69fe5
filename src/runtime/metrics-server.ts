/**
 * The metrics listener (SHAHN_METRICS_PORT, on SHAHN_METRICS_HOST: 127.0.0.1 unless set): `GET
 * /metrics` in Prometheus's text format, 404 for anything else. A listener of its own, so the API's
 * port never exposes the process's internals and a scrape never queues behind API traffic's limits.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Deps } from '../domain/deps.js';
import type { Log } from '../lib/log.js';
import type { StoreGauges } from '../lib/metrics.js';

/** What a scrape reads of the store. */
export function storeGauges(deps: Pick<Deps, 'store' | 'clock'>): StoreGauges {
  const { store, clock } = deps;
  return {
    openOrders: () => store.console.countOpenOrders(),
    uncertainOrders: async () => (await store.orders.listUncertainOrders({ offset: 0, limit: 1 })).total,
    outboxBacklog: async () => {
      const now = clock.now();
      return (await store.outbox.backlog()).map((b) => ({ kind: b.kind, pending: b.pending, givenUp: b.givenUp, oldestAgeSeconds: b.oldestCreatedAt === null ? 0 : Math.max(0, (now - b.oldestCreatedAt) / 1000) }));
    },
    channels: async () =>
      (await store.channels.list()).map((c) => ({ gateway: c.gateway, channel: c.channel, operator: c.operator, usable: c.usable, balance: typeof c.status.balance === 'number' ? c.status.balance : null })),
    ...(store.poolStats ? { pool: store.poolStats } : {}),
  };
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(deps: Pick<Deps, 'store' | 'clock' | 'metrics' | 'config'>, log: Pick<Log, 'warn'>): Promise<MetricsServer | undefined> {
  const { config, metrics } = deps;
  if (config.metricsPort === undefined) return undefined;
  metrics.serveFrom(storeGauges(deps));
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => {
        // A store that cannot be read (a gauge's query failed): say so, as a scrape error Prometheus records.
        log.warn({ err }, 'metrics scrape failed');
        res.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${(err as Error).message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metricsPort, config.metricsHost, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
