/** Test doubles for the processor: a gateway whose calls the test answers by hand, and a processor factory. */
import pino from 'pino';
import type { Gateway, GatewayOutcome, GatewayRequest, GatewayTarget, HealthKey, SendContext } from '../src/gateways/gateway.js';
import { OrderProcessor, type ProcessorOptions } from '../src/processor/order-processor.js';
import type { TestContext } from './helpers.js';

interface PendingCall {
  request: GatewayRequest;
  resolve: (o: GatewayOutcome) => void;
  reject: (e: Error) => void;
}

/** Every call waits until the test answers it. Counts calls per order. */
export class ManualGateway implements Gateway {
  readonly name = 'manual';
  readonly calls = new Map<string, number>();
  readonly pending = new Map<string, PendingCall>();
  readonly down = new Set<HealthKey>();

  isUp(target: GatewayTarget): boolean {
    return !this.down.has(target.healthKey);
  }

  async send(request: GatewayRequest, ctx: SendContext): Promise<GatewayOutcome> {
    if (!(await ctx.callStarting())) return { kind: 'NOT_SENT', reason: 'lease lost' };
    const signal = ctx.signal;
    this.calls.set(request.orderId, (this.calls.get(request.orderId) ?? 0) + 1);
    return new Promise((resolve, reject) => {
      this.pending.set(request.orderId, { request, resolve, reject });
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  }

  /** Wait until the processor has called the gateway for this order (store round trips come first). */
  async waitForCall(orderId: string, timeoutMs = 5000): Promise<GatewayRequest> {
    await waitUntil(() => this.pending.has(orderId), timeoutMs, `no gateway call for ${orderId}`);
    return this.pending.get(orderId)!.request;
  }

  /** Answer an order's call (waiting for the call to arrive first). */
  async answer(orderId: string, outcome: GatewayOutcome | Error): Promise<void> {
    await this.waitForCall(orderId);
    const call = this.pending.get(orderId);
    if (!call) throw new Error(`no pending call for ${orderId}`);
    this.pending.delete(orderId);
    if (outcome instanceof Error) call.reject(outcome);
    else call.resolve(outcome);
  }
}

export const silentLog = pino({ level: 'silent' });

export function makeProcessor(ctx: TestContext, gateway: Gateway, options: Partial<ProcessorOptions> = {}): OrderProcessor {
  return new OrderProcessor(
    { store: ctx.deps.store, clock: ctx.clock, catalogue: ctx.deps.catalogue, gateway, logger: silentLog, metrics: ctx.deps.metrics },
    {
      owner: options.owner ?? 'test-worker',
      concurrency: options.concurrency ?? 1000,
      leaseMs: options.leaseMs ?? 60_000,
      gatewayTimeoutMs: options.gatewayTimeoutMs ?? 30_000,
      pollMs: options.pollMs ?? 10,
      recoveryEveryMs: options.recoveryEveryMs ?? 1_000_000,
      downRetryMs: options.downRetryMs ?? 30_000,
    },
  );
}

/** Let pending callbacks and store round trips run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 1));
}

/** Poll a condition (store round trips are asynchronous on PostgreSQL). */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A production order of the context's merchant that ends UNKNOWN_ERROR through the processor (a garbled answer). */
export async function sendUncertainOrder(ctx: TestContext, gw: ManualGateway, body: { amount?: number; ref?: string } = {}): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v3/mobile/send',
    headers: { 'x-access-token': ctx.merchant.productionKey, 'content-type': 'application/json' },
    payload: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: body.amount ?? 500, ...(body.ref ? { ref: body.ref } : {}) }),
  });
  const id = (res.json() as { data: { topupId: string } }).data.topupId;
  const p = makeProcessor(ctx, gw);
  await p.tick();
  await settle();
  await gw.answer(id, { kind: 'UNKNOWN', reason: 'garbled' });
  await p.drain();
  return id;
}
