/**
 * Configuration: read once from the environment, validated, frozen and typed.
 * Nothing else in src/ reads process.env (the lint rule enforces it).
 */

import { hostname } from 'node:os';
import { parseIpRange } from './lib/ip.js';
import { CONTRACT_TIMELINE, type SandboxTimeline } from './lib/sandbox-timeline.js';

/**
 * Which peers may say who the client is (X-Forwarded-For). `false`: nobody; the client is the
 * connection's address. `hops`: that many proxies in front of shahn; the client is the address the
 * outermost of them appended (the rightmost entry it did not add itself). `addresses`: the proxies'
 * addresses or CIDR ranges (or proxy-addr's names `loopback`, `linklocal`, `uniquelocal`); the client
 * is the rightmost address that is not one of them. Either way a client can never choose its IP.
 */
export type TrustProxy = false | { readonly hops: number } | { readonly addresses: readonly string[] };

export interface Config {
  readonly port: number;
  readonly host: string;
  /** A SQLite file path or a postgres:// URL. */
  readonly db: string;
  /** The plan catalogue file loaded into a fresh store (default: catalogue/default.json). */
  readonly catalogue: string | undefined;
  /** Requests per second per key; 0 disables the limiter. */
  readonly rateLimit: number;
  /** Burst size of the per-key token bucket. */
  readonly rateLimitBurst: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** One log line per request (method, url, status, time, requestId). */
  readonly accessLog: boolean;
  /** How long a key lookup is cached in one process (ms). A disabled key stops working within this bound. */
  readonly keyCacheMs: number;
  /** The sandbox's timeline: PENDING, HANDLING, final; an UNKNOWN_ERROR resolving to REFUNDED on its own. */
  readonly sandbox: SandboxTimeline;
  /** Which reverse proxies are trusted to name the client (SHAHN_TRUST_PROXY). */
  readonly trustProxy: TrustProxy;
  /**
   * Create a demo merchant, admin and console logins on a fresh store (SHAHN_DEMO). `auto` (unset):
   * only on a SQLite store with the API bound to a loopback address; `true` or `false` decide.
   */
  readonly demo: boolean | 'auto';
  /** The longest a request may take to arrive, headers and body (ms); then 408 and the connection closes. */
  readonly requestTimeoutMs: number;
  /** The longest the request headers may take to arrive (ms). */
  readonly headersTimeoutMs: number;
  /** Open connections at most; one more is answered 503 and closed at once. */
  readonly maxConnections: number;
  /** Answer the common check-id straight from node:http (SHAHN_FAST_PATH, default true). */
  readonly fastPath: boolean;
  /** Graceful shutdown: how long in-flight requests may take before the process exits anyway (ms). */
  readonly shutdownGraceMs: number;
  /**
   * SHAHN_CHECK_ID_CACHE (default 50,000; 0 turns both off): the size of the SQLite store's cache of orders read by id
   * and of the check-id hot path's cache of FULFILLED production orders (so up to twice this many orders in memory).
   */
  readonly checkIdCacheSize: number;
  /** How long a console session lasts (SHAHN_CONSOLE_SESSION_HOURS, default 12). */
  readonly consoleSessionMs: number;
  /** Console cookies carry the Secure flag (SHAHN_COOKIE_SECURE, default true; browsers accept it on http://localhost and 127.0.0.1). */
  readonly cookieSecure: boolean;

  /** Run the order processor inside `shahn serve`. */
  readonly processor: boolean;
  /** Gateway calls at once per processor. */
  readonly processorConcurrency: number;
  /** A claimed order's lease (ms); longer than the gateway timeout. */
  readonly leaseMs: number;
  /** How long a gateway call may take before its outcome is UNKNOWN_ERROR (ms). */
  readonly gatewayTimeoutMs: number;
  /** How often an idle processor looks for orders queued by other processes (ms). */
  readonly processorPollMs: number;
  /** How often expired leases are recovered (ms). */
  readonly recoveryEveryMs: number;
  /** An order for an operator that is down waits this long before it is tried again (ms). */
  readonly downRetryMs: number;
  /** This process's name in leases. */
  readonly workerId: string;
  /** The gateways and their routes (SHAHN_GATEWAYS, a JSON file); without it, one simulator for every operator. */
  readonly gateways: string | undefined;
  /** The default simulator's JSON config file (when SHAHN_GATEWAYS is not set). */
  readonly simulatorConfig: string | undefined;
  /** Append each simulated operator call (the order id) to this file, before the call. */
  readonly simulatorCallLog: string | undefined;
  /** POST support alerts (UNKNOWN_ERROR) here, retried until a 2xx. */
  readonly alertUrl: string | undefined;
  /** Webhooks may go to http:// and private, loopback or link-local addresses (tests, the demo): SHAHN_WEBHOOK_ALLOW_PRIVATE. */
  readonly webhookAllowPrivate: boolean;
  /** How long one webhook attempt may take (SHAHN_WEBHOOK_TIMEOUT_MS). */
  readonly webhookTimeoutMs: number;
  /** Serve Prometheus metrics on this port (SHAHN_METRICS_PORT; unset: no metrics listener, requests not timed). */
  readonly metricsPort: number | undefined;
  /** The metrics listener's address (SHAHN_METRICS_HOST, default 127.0.0.1: never the public interface unless asked). */
  readonly metricsHost: string;
  /** PostgreSQL: connections per process. */
  readonly pgPoolSize: number;
  /** PostgreSQL: statement timeout (ms); a slower statement is cancelled and answered 503. */
  readonly pgStatementTimeoutMs: number;
  /** PostgreSQL: how long a request may wait for a pooled connection before it is answered 503 (ms). */
  readonly pgConnectTimeoutMs: number;
  /**
   * An environment variable that a configuration file names as a secret's home (a SIM's transfer PIN:
   * `pinEnv`), from the environment as it was read at start. Secrets are never logged or stored.
   */
  readonly secret: (name: string) => string | undefined;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const DEFAULTS = Object.freeze({
  port: 3000,
  host: '127.0.0.1',
  db: './data/shahn.db',
  rateLimit: 100,
  keyCacheMs: 5_000,
  shutdownGraceMs: 40_000,
  processorConcurrency: 64,
  leaseMs: 120_000,
  gatewayTimeoutMs: 60_000,
  processorPollMs: 250,
  recoveryEveryMs: 10_000,
  downRetryMs: 30_000,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  maxConnections: 10_000,
});

/** A snapshot of the environment, read only through the returned function. */
function secretsOf(env: Env): (name: string) => string | undefined {
  const snapshot = new Map(Object.entries(env));
  return (name) => snapshot.get(name);
}

function sandboxTimeline(env: Env): SandboxTimeline {
  const pendingMs = int(env, 'SHAHN_SANDBOX_PENDING_MS', CONTRACT_TIMELINE.pendingMs, 0, 3_600_000);
  const finalMs = int(env, 'SHAHN_SANDBOX_FINAL_MS', CONTRACT_TIMELINE.finalMs, 0, 3_600_000);
  const unknownResolveMs = int(env, 'SHAHN_SANDBOX_UNKNOWN_RESOLVE_MS', CONTRACT_TIMELINE.unknownResolveMs, 0, 30 * 86_400_000);
  if (finalMs < pendingMs) throw new ConfigError(`SHAHN_SANDBOX_FINAL_MS (${finalMs}) must not be less than SHAHN_SANDBOX_PENDING_MS (${pendingMs})`);
  if (unknownResolveMs < finalMs) throw new ConfigError(`SHAHN_SANDBOX_UNKNOWN_RESOLVE_MS (${unknownResolveMs}) must not be less than SHAHN_SANDBOX_FINAL_MS (${finalMs})`);
  const lateAnswerMs = int(env, 'SHAHN_SANDBOX_LATE_ANSWER_MS', CONTRACT_TIMELINE.lateAnswerMs, 0, 30 * 86_400_000);
  if (lateAnswerMs < finalMs) throw new ConfigError(`SHAHN_SANDBOX_LATE_ANSWER_MS (${lateAnswerMs}) must not be less than SHAHN_SANDBOX_FINAL_MS (${finalMs})`);
  const outageMs = int(env, 'SHAHN_SANDBOX_OUTAGE_MS', CONTRACT_TIMELINE.outageMs, 0, 30 * 86_400_000);
  if (outageMs < pendingMs) throw new ConfigError(`SHAHN_SANDBOX_OUTAGE_MS (${outageMs}) must not be less than SHAHN_SANDBOX_PENDING_MS (${pendingMs})`);
  return Object.freeze({ pendingMs, finalMs, unknownResolveMs, lateAnswerMs, outageMs });
}

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function trustProxy(raw: string | undefined): TrustProxy {
  const v = raw?.trim() ?? '';
  if (v === '' || ['false', 'no', 'off', '0'].includes(v.toLowerCase())) return false;
  if (['true', 'yes', 'on'].includes(v.toLowerCase())) {
    throw new ConfigError(
      'SHAHN_TRUST_PROXY=true would let any client choose its own IP address (the leftmost X-Forwarded-For entry is written by the client). ' +
        'Say how many proxies are in front of shahn (SHAHN_TRUST_PROXY=1 for one nginx or Caddy) or list their addresses (SHAHN_TRUST_PROXY=127.0.0.1,10.0.0.0/8).',
    );
  }
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    if (hops > 32) throw new ConfigError(`SHAHN_TRUST_PROXY must be a number of proxies between 1 and 32 or a list of their addresses, got "${raw}"`);
    return Object.freeze({ hops });
  }
  const addresses = v.split(',').map((entry) => {
    const e = entry.trim();
    if (PROXY_NAMES.includes(e.toLowerCase())) return e.toLowerCase();
    const range = parseIpRange(e);
    if (!range) {
      throw new ConfigError(
        `SHAHN_TRUST_PROXY: "${e}" is not an IP address, a CIDR range or one of ${PROXY_NAMES.join(', ')} (give the number of proxies, or their addresses separated by commas)`,
      );
    }
    return range.text;
  });
  return Object.freeze({ addresses: Object.freeze(addresses) });
}

export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const level = (env.SHAHN_LOG_LEVEL ?? 'info').trim();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`SHAHN_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }
  const rateLimit = int(env, 'SHAHN_RATE_LIMIT', DEFAULTS.rateLimit, 0, 10_000_000);
  const config: Config = {
    port: int(env, 'PORT', DEFAULTS.port, 0, 65535),
    host: env.HOST?.trim() || DEFAULTS.host,
    db: env.SHAHN_DB?.trim() || DEFAULTS.db,
    catalogue: env.SHAHN_CATALOGUE?.trim() || undefined,
    rateLimit,
    rateLimitBurst: int(env, 'SHAHN_RATE_LIMIT_BURST', Math.max(rateLimit, 1), 1, 10_000_000),
    logLevel: level as Config['logLevel'],
    accessLog: bool(env, 'SHAHN_ACCESS_LOG', true),
    keyCacheMs: int(env, 'SHAHN_KEY_CACHE_MS', DEFAULTS.keyCacheMs, 0, 3_600_000),
    sandbox: sandboxTimeline(env),
    trustProxy: trustProxy(env.SHAHN_TRUST_PROXY),
    demo: env.SHAHN_DEMO === undefined || env.SHAHN_DEMO.trim() === '' ? 'auto' : bool(env, 'SHAHN_DEMO', false),
    requestTimeoutMs: int(env, 'SHAHN_REQUEST_TIMEOUT_MS', DEFAULTS.requestTimeoutMs, 1000, 3_600_000),
    headersTimeoutMs: int(env, 'SHAHN_HEADERS_TIMEOUT_MS', DEFAULTS.headersTimeoutMs, 1000, 3_600_000),
    maxConnections: int(env, 'SHAHN_MAX_CONNECTIONS', DEFAULTS.maxConnections, 1, 1_000_000),
    fastPath: bool(env, 'SHAHN_FAST_PATH', true),
    shutdownGraceMs: int(env, 'SHAHN_SHUTDOWN_GRACE_MS', DEFAULTS.shutdownGraceMs, 0, 600_000),
    checkIdCacheSize: int(env, 'SHAHN_CHECK_ID_CACHE', 50_000, 0, 10_000_000),
    consoleSessionMs: int(env, 'SHAHN_CONSOLE_SESSION_HOURS', 12, 1, 24 * 30) * 3_600_000,
    cookieSecure: bool(env, 'SHAHN_COOKIE_SECURE', true),
    processor: bool(env, 'SHAHN_PROCESSOR', true),
    processorConcurrency: int(env, 'SHAHN_PROCESSOR_CONCURRENCY', DEFAULTS.processorConcurrency, 1, 100_000),
    leaseMs: int(env, 'SHAHN_LEASE_MS', DEFAULTS.leaseMs, 100, 86_400_000),
    gatewayTimeoutMs: int(env, 'SHAHN_GATEWAY_TIMEOUT_MS', DEFAULTS.gatewayTimeoutMs, 10, 86_400_000),
    processorPollMs: int(env, 'SHAHN_PROCESSOR_POLL_MS', DEFAULTS.processorPollMs, 1, 60_000),
    recoveryEveryMs: int(env, 'SHAHN_RECOVERY_EVERY_MS', DEFAULTS.recoveryEveryMs, 10, 3_600_000),
    downRetryMs: int(env, 'SHAHN_DOWN_RETRY_MS', DEFAULTS.downRetryMs, 0, 3_600_000),
    workerId: env.SHAHN_WORKER_ID?.trim() || `${hostname()}-${process.pid}`,
    gateways: env.SHAHN_GATEWAYS?.trim() || undefined,
    simulatorConfig: env.SHAHN_SIMULATOR_CONFIG?.trim() || undefined,
    simulatorCallLog: env.SHAHN_SIMULATOR_CALL_LOG?.trim() || undefined,
    alertUrl: env.SHAHN_ALERT_URL?.trim() || undefined,
    webhookAllowPrivate: bool(env, 'SHAHN_WEBHOOK_ALLOW_PRIVATE', false),
    webhookTimeoutMs: int(env, 'SHAHN_WEBHOOK_TIMEOUT_MS', 15_000, 100, 60_000),
    metricsPort: env.SHAHN_METRICS_PORT === undefined || env.SHAHN_METRICS_PORT.trim() === '' ? undefined : int(env, 'SHAHN_METRICS_PORT', 0, 0, 65535),
    metricsHost: env.SHAHN_METRICS_HOST?.trim() || '127.0.0.1',
    pgPoolSize: int(env, 'SHAHN_PG_POOL_SIZE', 10, 1, 1000),
    pgStatementTimeoutMs: int(env, 'SHAHN_PG_STATEMENT_TIMEOUT_MS', 5000, 100, 600_000),
    pgConnectTimeoutMs: int(env, 'SHAHN_PG_CONNECT_TIMEOUT_MS', 10_000, 100, 600_000),
    secret: secretsOf(env),
    ...overrides,
  };
  if (config.leaseMs <= config.gatewayTimeoutMs) {
    throw new ConfigError(`SHAHN_LEASE_MS (${config.leaseMs}) must be longer than SHAHN_GATEWAY_TIMEOUT_MS (${config.gatewayTimeoutMs})`);
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new ConfigError(`SHAHN_HEADERS_TIMEOUT_MS (${config.headersTimeoutMs}) must not be longer than SHAHN_REQUEST_TIMEOUT_MS (${config.requestTimeoutMs})`);
  }
  if (config.metricsPort !== undefined && config.metricsPort !== 0 && config.metricsPort === config.port) {
    throw new ConfigError(`SHAHN_METRICS_PORT (${config.metricsPort}) must differ from PORT: the metrics are never served on the API's port`);
  }
  if (config.alertUrl !== undefined && !/^https?:\/\//.test(config.alertUrl)) {
    throw new ConfigError(`SHAHN_ALERT_URL must be an http(s) URL, got "${config.alertUrl}"`);
  }
  return Object.freeze(config);
}
