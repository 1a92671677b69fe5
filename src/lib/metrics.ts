/**
 * The process's Prometheus metrics (prom-client), on a registry of its own. Counters and histograms
 * are updated where things happen (requests, order transitions, gateway calls, lease recoveries);
 * what the store knows (open and uncertain orders, the outbox's backlog, PostgreSQL's pool) is read
 * when Prometheus scrapes. Served on a listener of its own (runtime/metrics-server.ts), never on the
 * API's port. docs/operations.md says what each one means.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RequestHistogram, type RequestRecorder } from './request-histogram.js';

/** What the scrape reads from the store (runtime/metrics-server.ts wires it to the process's store). */
export interface StoreGauges {
  openOrders(): Promise<{ PENDING: number; HANDLING: number }>;
  uncertainOrders(): Promise<number>;
  outboxBacklog(): Promise<{ kind: string; pending: number; givenUp: number; oldestAgeSeconds: number }[]>;
  /** The gateways' channels (a modem pool's SIMs, a relay's upstream) as their driver last published them. */
  channels(): Promise<{ gateway: string; channel: string; operator: string; usable: boolean; balance: number | null }[]>;
  pool?(): { total: number; idle: number; waiting: number };
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const GATEWAY_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: RequestHistogram;
  private readonly transitions: Counter<'env' | 'status'>;
  private readonly gatewayCalls: Histogram<'gateway' | 'operator' | 'outcome'>;
  private readonly recoveries: Counter<'result'>;
  private processMetrics = false;

  constructor() {
    const registers = [this.registry];
    this.requests = new RequestHistogram(
      'shahn_http_request_duration_seconds',
      'API requests by route (the pattern, or "unmatched"), method and status: time from the request to the response written',
      SECONDS,
      this.registry,
    );
    this.transitions = new Counter({ name: 'shahn_order_transitions_total', help: 'Orders entering a status, by environment and status', labelNames: ['env', 'status'], registers });
    this.gatewayCalls = new Histogram({
      name: 'shahn_gateway_call_duration_seconds',
      help: 'Gateway calls by gateway, operator and outcome (FULFILLED, REFUNDED, UNKNOWN, NOT_SENT, ERROR): time from the call to its answer',
      labelNames: ['gateway', 'operator', 'outcome'],
      buckets: GATEWAY_SECONDS,
      registers,
    });
    this.recoveries = new Counter({
      name: 'shahn_lease_recoveries_total',
      help: 'Orders whose processor lease expired: requeued (the call never started) or uncertain (UNKNOWN_ERROR: it had started)',
      labelNames: ['result'],
      registers,
    });
  }

  /** One answered request; `route` is the route's pattern (bounded), never the raw URL. */
  request(route: string, method: string, status: number, seconds: number): void {
    this.requests.observe(route, method, status, seconds);
  }

  /** The same for one route and method, fixed in advance (the hot paths: no label lookup per request). */
  requestRecorder(route: string, method: string): RequestRecorder {
    return this.requests.recorder(route, method);
  }

  transition(env: string, status: string, n = 1): void {
    if (n > 0) this.transitions.inc({ env, status }, n);
  }

  gatewayCall(gateway: string, operator: string, outcome: string, seconds: number): void {
    this.gatewayCalls.observe({ gateway, operator, outcome }, seconds);
  }

  leaseRecoveries(requeued: number, uncertain: number): void {
    if (requeued > 0) this.recoveries.inc({ result: 'requeued' }, requeued);
    if (uncertain > 0) this.recoveries.inc({ result: 'uncertain' }, uncertain);
  }

  /**
   * The gauges read from the store at each scrape, and the process's own (CPU, memory, event loop,
   * GC: prom-client's defaults). Once per process: the metrics listener calls it when it starts.
   */
  serveFrom(store: StoreGauges): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    new Gauge({
      name: 'shahn_open_orders',
      help: 'Production orders not final yet, by status (PENDING: queued; HANDLING: at a gateway)',
      labelNames: ['status'],
      registers,
      async collect() {
        const open = await store.openOrders();
        this.set({ status: 'PENDING' }, open.PENDING);
        this.set({ status: 'HANDLING' }, open.HANDLING);
      },
    });
    new Gauge({
      name: 'shahn_uncertain_orders',
      help: 'Production orders in UNKNOWN_ERROR: waiting for support (or a late answer) to settle them',
      registers,
      async collect() {
        this.set(await store.uncertainOrders());
      },
    });
    // One query for both outbox gauges: the first collect fetches, the second reads what it fetched.
    let backlog: Promise<Awaited<ReturnType<StoreGauges['outboxBacklog']>>> | undefined;
    const fetchBacklog = () => (backlog ??= store.outboxBacklog().finally(() => setImmediate(() => (backlog = undefined))));
    new Gauge({
      name: 'shahn_outbox_backlog',
      help: 'Outbox messages not delivered, by kind (alert, webhook) and state (pending: will be tried; given_up: the schedule ran out)',
      labelNames: ['kind', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const b of await fetchBacklog()) {
          this.set({ kind: b.kind, state: 'pending' }, b.pending);
          this.set({ kind: b.kind, state: 'given_up' }, b.givenUp);
        }
      },
    });
    new Gauge({
      name: 'shahn_outbox_oldest_age_seconds',
      help: 'Age of the oldest outbox message still to be delivered, by kind (0: none waiting)',
      labelNames: ['kind'],
      registers,
      async collect() {
        this.reset();
        for (const b of await fetchBacklog()) this.set({ kind: b.kind }, b.oldestAgeSeconds);
      },
    });
    // One query for both channel gauges, as for the outbox.
    let channels: ReturnType<StoreGauges['channels']> | undefined;
    const fetchChannels = () => (channels ??= store.channels().finally(() => setImmediate(() => (channels = undefined))));
    new Gauge({
      name: 'shahn_gateway_channel_usable',
      help: "A gateway channel (a modem pool's SIM, a relay's upstream) takes orders now: 1, or 0",
      labelNames: ['gateway', 'channel', 'operator'],
      registers,
      async collect() {
        this.reset();
        for (const c of await fetchChannels()) this.set({ gateway: c.gateway, channel: c.channel, operator: c.operator }, c.usable ? 1 : 0);
      },
    });
    new Gauge({
      name: 'shahn_gateway_channel_balance_dzd',
      help: "A gateway channel's balance as last read (a SIM's credit, the upstream account's balance), in DZD",
      labelNames: ['gateway', 'channel', 'operator'],
      registers,
      async collect() {
        this.reset();
        for (const c of await fetchChannels()) if (c.balance !== null) this.set({ gateway: c.gateway, channel: c.channel, operator: c.operator }, c.balance);
      },
    });
    if (store.pool) {
      const pool = store.pool;
      new Gauge({
        name: 'shahn_store_pool_connections',
        help: "PostgreSQL connections of this process's pool: total open, idle, and requests waiting for one",
        labelNames: ['state'],
        registers,
        collect() {
          const p = pool();
          this.set({ state: 'total' }, p.total);
          this.set({ state: 'idle' }, p.idle);
          this.set({ state: 'waiting' }, p.waiting);
        },
      });
    }
  }
}
