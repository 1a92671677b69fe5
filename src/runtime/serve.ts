/**
 * `shahn serve`, wired in one place: config → store (opened, migrated) → catalogue → gateways
 * (SHAHN_GATEWAYS) → deps → demo data on a fresh local store → the app → the order processor and the
 * outbox dispatcher → listen; and on SIGTERM/SIGINT, drain in-flight requests and gateway calls.
 */
import type { Config } from '../config.js';
import { processLogger } from '../lib/process-logger.js';
import { createMerchant, type CreatedMerchant } from '../domain/create-merchant.js';
import type { Deps } from '../domain/deps.js';
import { buildApp, type ShahnApp } from '../server/build-app.js';
import type { Log } from '../lib/log.js';
import { BLOCK_SYNC_MS } from '../domain/brute-force-guard.js';
import { createAdmin } from '../support/admins.js';
import { setConsolePassword } from '../server/console/console-auth.js';
import { generatePassword } from '../server/console/passwords.js';
import type { GatewayRouter } from '../gateways/gateway-router.js';
import { wireProcess, type GatewayProcess } from './gateways.js';
import { openReadyStore } from './open-store.js';
import { startMetricsServer } from './metrics-server.js';
import { startProcessing, type Processing } from './processing.js';

export const DEMO_USERNAME = '+213555000000';
export const DEMO_BALANCE_DZD = 10_000;

export interface RunningServer {
  app: ShahnApp;
  deps: Deps;
  url: string;
  demo: CreatedMerchant | undefined;
  /** The demo support agent's admin token (fresh store only). */
  demoAdminToken: string | undefined;
  /** Why no demo data was made on a store without merchants (SHAHN_DEMO unset, not SQLite on loopback). */
  demoSkipped: string | undefined;
  /** The demo console logins and their generated passwords (fresh store only). */
  demoConsole: { role: 'admin' | 'merchant'; login: string; password: string }[] | undefined;
  processing: Processing;
  gateways: GatewayRouter;
  /** Where Prometheus scrapes this process (SHAHN_METRICS_PORT), if it serves metrics. */
  metricsUrl: string | undefined;
  /** Drain in-flight requests and gateway calls, then close the store. */
  stop(): Promise<void>;
}

/** Is this host name or address only reachable from this machine? */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Demo data (a merchant with a funded production key, a support admin, console passwords) only where
 * nobody else can reach it: by default on a SQLite store served on loopback; SHAHN_DEMO=true asks
 * for it anywhere, SHAHN_DEMO=false never.
 */
export function demoWanted(config: Pick<Config, 'demo' | 'host'>, storeKind: 'sqlite' | 'postgres'): boolean {
  if (config.demo !== 'auto') return config.demo;
  return storeKind === 'sqlite' && isLoopbackHost(config.host);
}

export async function startServer(config: Config): Promise<RunningServer> {
  const { store } = await openReadyStore(config);
  const logger = processLogger(config.logLevel);
  // A process drives the modems of a modem gateway only where it runs the order processor.
  const proc: GatewayProcess = { drive: config.processor, log: logger };
  const { deps, gateways } = await wireProcess(config, store, proc);

  let demo: CreatedMerchant | undefined;
  let demoAdminToken: string | undefined;
  let demoConsole: RunningServer['demoConsole'];
  let demoSkipped: string | undefined;
  const fresh = (await store.accounts.countMerchants()) === 0;
  if (fresh && !demoWanted(config, store.kind)) {
    demoSkipped = config.demo === false ? 'SHAHN_DEMO=false' : store.kind === 'postgres' ? 'the store is PostgreSQL' : `the API listens on ${config.host}, not on loopback`;
  }
  if (fresh && demoWanted(config, store.kind)) {
    demo = await createMerchant(deps, { username: DEMO_USERNAME, balance: DEMO_BALANCE_DZD });
    demoAdminToken = (await createAdmin(deps, { name: 'support' })).token;
    demoConsole = [];
    for (const [role, login] of [['merchant', DEMO_USERNAME], ['admin', 'support']] as const) {
      const password = generatePassword();
      await setConsolePassword(deps, { role, login, password, actor: 'serve:demo' });
      demoConsole.push({ role, login, password });
    }
  }

  const app = await buildApp(deps, { logger });
  const processing = await startProcessing(config, deps, gateways, app.log, { runProcessor: config.processor });
  proc.onAlert = () => processing.alerts.kick();
  const url = await app.listen({ port: config.port, host: config.host });
  const shared = startSharedGuards(deps, `${config.workerId}-api`, app.log);
  const metrics = await startMetricsServer(deps, app.log);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      app.beginShutdown();
      await app.close();
      await processing.stop();
      await gateways.stop();
      await shared.stop();
      await metrics?.close();
      await store.close();
    })());
  return { app, deps, url, demo, demoSkipped, demoAdminToken, demoConsole, processing, gateways, metricsUrl: metrics?.url, stop };
}

/** How often an API process deletes failed-key records that no longer count. */
export const PURGE_EVERY_MS = 60_000;

/** How long an API process counts as alive after its last heartbeat. */
export const INSTANCE_LIVE_MS = 6_000;

/**
 * State shared by the API processes of one store: the blocked IPs (synced every BLOCK_SYNC_MS),
 * this process's share of each key's rate limit (from the heartbeat table, every 2 s), and the purge
 * of failed-key records whose window is over (every PURGE_EVERY_MS).
 */
export function startSharedGuards(deps: Deps, instanceId: string, log: Pick<Log, 'warn'>) {
  const sync = async () => {
    try {
      await deps.bruteForce.sync();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not sync blocked IPs');
    }
  };
  const beat = async () => {
    try {
      deps.limiter.setShare(await deps.store.guards.heartbeat(instanceId, Date.now(), INSTANCE_LIVE_MS));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'heartbeat failed');
    }
  };
  const purge = async () => {
    try {
      await deps.bruteForce.purge();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not purge expired failed-key records');
    }
  };
  const t1 = setInterval(() => void sync(), BLOCK_SYNC_MS);
  const t2 = setInterval(() => void beat(), 2_000);
  const t3 = setInterval(() => void purge(), PURGE_EVERY_MS);
  t1.unref();
  t2.unref();
  t3.unref();
  void beat();
  void purge();
  return {
    async stop() {
      clearInterval(t1);
      clearInterval(t2);
      clearInterval(t3);
      await deps.store.guards.removeInstance(instanceId).catch(() => undefined);
    },
  };
}
