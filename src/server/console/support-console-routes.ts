/**
 * Support's pages: the UNKNOWN_ERROR queue, resolve (exactly once, with a reason, audited), search
 * across merchants, merchants with balances and credit, keys, operator health, the audit trail and
 * the charts. The actor of every audited change is `console:<admin name>`.
 */
import { CHANNEL_STALE_MS } from '../../gateways/gateway.js';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError, IdParams } from '@shahn/contract';
import { creditMerchant } from '../../domain/credit-merchant.js';
import type { Deps } from '../../domain/deps.js';
import { presentTransaction } from '../../domain/present.js';
import { HEALTH_KEYS } from '../../gateways/operator-simulator.js';
import { centimesToDzd } from '../../lib/money.js';
import { listUncertainOrders, presentSupportOrders } from '../../support/list-uncertain-orders.js';
import { listKeys, rotateKey, updateKey } from '../../support/manage-keys.js';
import { resendOrder } from '../../support/resend-order.js';
import { getOrderWithAudit } from '../../support/find-order.js';
import { resolveOrder } from '../../support/resolve-order.js';
import { listAuditPage } from '../../support/audit.js';
import { configureSimulator } from '../../support/configure-simulator.js';
import { listMerchants } from '../../support/list-merchants.js';
import { listTransactions } from '../../domain/list-transactions.js';
import { success } from '../envelope.js';
import { sessionOf } from './console-auth.js';
import { outcomesOverTime, timeToFinal } from './stats.js';

const PageOnly = Type.Object({ page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })), pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) });
const Reason = Type.String({ minLength: 1, maxLength: 1000 });

export const supportConsoleRoutes: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const simulator = deps.gateways.simulator();
  const actor = (request: FastifyRequest) => `console:${sessionOf(request).login.login}`;

  app.get('/console/api/support/queue', { schema: { hide: true, querystring: PageOnly } }, async (request) =>
    success(request, await listUncertainOrders(deps, request.query)),
  );

  app.get('/console/api/support/orders/:id', { schema: { hide: true, params: IdParams } }, async (request) =>
    success(request, await getOrderWithAudit(deps, request.params.id)),
  );

  app.post(
    '/console/api/support/orders/:id/resolve',
    { schema: { hide: true, params: IdParams, body: Type.Object({ status: Type.Enum(['FULFILLED', 'REFUNDED']), reason: Reason, refundMessage: Type.Optional(Type.String({ maxLength: 500 })) }) } },
    async (request) =>
      success(request, await resolveOrder(deps, { actor: actor(request), orderId: request.params.id, to: request.body.status as 'FULFILLED' | 'REFUNDED', reason: request.body.reason, refundMessage: request.body.refundMessage })),
  );

  app.post('/console/api/support/orders/:id/resend', { schema: { hide: true, params: IdParams, body: Type.Object({ reason: Reason }) } }, async (request) =>
    success(request, await resendOrder(deps, { actor: actor(request), orderId: request.params.id, reason: request.body.reason })),
  );

  app.get('/console/api/support/search', { schema: { hide: true, querystring: Type.Object({ q: Type.String({ minLength: 1, maxLength: 128 }) }) } }, async (request) => {
    return success(request, { items: await presentSupportOrders(deps, await deps.store.orders.searchOrders(request.query.q.trim(), 50)) });
  });

  app.get('/console/api/support/merchants', { schema: { hide: true, querystring: PageOnly } }, async (request) =>
    success(request, await listMerchants(deps, request.query)),
  );

  app.get(
    '/console/api/support/merchants/transactions',
    { schema: { hide: true, querystring: Type.Intersect([PageOnly, Type.Object({ username: Type.String({ minLength: 1, maxLength: 32 }) })]) } },
    async (request) => {
      const m = await deps.store.accounts.findMerchantByUsername(request.query.username);
      if (!m) throw new AppError('NOT_FOUND', `Merchant '${request.query.username}' not found`);
      return success(request, { balance: centimesToDzd(m.balance), ...(await listTransactions(deps, { merchantId: m.id, env: 'PRODUCTION', query: request.query })) });
    },
  );

  app.post(
    '/console/api/support/merchants/credit',
    { schema: { hide: true, body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 32 }), amount: Type.Union([Type.Number(), Type.String({ maxLength: 32 })]), reason: Reason }) } },
    async (request) => {
      const b = request.body;
      const entry = await creditMerchant(deps, { username: b.username, amount: b.amount, note: `Deposit: ${b.reason}`, actor: actor(request), reason: b.reason });
      return success(request, presentTransaction(entry));
    },
  );

  app.get('/console/api/support/keys', { schema: { hide: true, querystring: Type.Object({ username: Type.String({ minLength: 1, maxLength: 32 }) }) } }, async (request) =>
    success(request, await listKeys(deps, { username: request.query.username })),
  );

  app.post(
    '/console/api/support/keys/:id',
    { schema: { hide: true, params: IdParams, body: Type.Object({ isEnabled: Type.Boolean(), reason: Reason }) } },
    async (request) => success(request, await updateKey(deps, { actor: actor(request), keyId: request.params.id, isEnabled: request.body.isEnabled, reason: request.body.reason })),
  );

  app.post('/console/api/support/keys/:id/rotate', { schema: { hide: true, params: IdParams, body: Type.Object({ reason: Reason }) } }, async (request) =>
    success(request, await rotateKey(deps, { actor: actor(request), keyId: request.params.id, reason: request.body.reason })),
  );

  app.get('/console/api/support/health', { schema: { hide: true } }, async (request) => {
    const catalogue = await deps.catalogue.get();
    const uncertain = await deps.store.orders.listUncertainOrders({ offset: 0, limit: 1 });
    const sim = simulator?.config();
    const operators = HEALTH_KEYS.map((healthKey) => {
      const gateways = deps.gateways.servedBy?.(healthKey) ?? [];
      // The simulator's settings (and its down/up switch) matter only where a simulator serves the operator.
      const simulated = sim && simulator && (gateways.length === 0 || gateways.includes(simulator.name));
      return {
        healthKey,
        operators: [...catalogue.operators.values()].filter((o) => o.healthKey === healthKey).map((o) => o.name),
        gateways,
        up: deps.gateways.isUp(healthKey),
        ...(simulated ? { latencyMs: sim.operators[healthKey].latencyMs, rates: sim.operators[healthKey].rates } : {}),
      };
    });
    const now = deps.clock.now();
    const iso = (v: unknown) => (typeof v === 'number' ? new Date(v).toISOString() : null);
    const channels = (await deps.store.channels.list()).map((c) => {
      const s = c.status;
      return {
        gateway: c.gateway,
        sim: c.channel,
        operator: c.operator,
        usable: c.usable && now - c.updatedAt <= CHANNEL_STALE_MS,
        reportedAt: new Date(c.updatedAt).toISOString(),
        stale: now - c.updatedAt > CHANNEL_STALE_MS,
        owner: c.owner,
        state: s.state ?? null,
        busy: s.busy ?? false,
        signal: s.signal ?? null,
        balance: s.balance ?? null,
        balanceEstimated: s.balanceEstimated ?? false,
        lastAnswer: s.lastAnswer ?? null,
        lastAnswerAt: iso(s.lastAnswerAt),
        ordersToday: s.ordersToday ?? 0,
        failures: s.failures ?? 0,
        reason: s.reason ?? null,
        retryAt: iso(s.retryAt),
      };
    });
    return success(request, { operators, channels, uncertainOrders: uncertain.total, simulator: Boolean(simulator) });
  });

  // Marking an operator down or up is a simulator control: it exists only with a simulator gateway.
  if (simulator) app.post(
    '/console/api/support/operators/:healthKey',
    { schema: { hide: true, params: Type.Object({ healthKey: Type.Enum([...HEALTH_KEYS]) }), body: Type.Object({ up: Type.Boolean(), reason: Reason }) } },
    async (request) => {
      const { healthKey } = request.params;
      await configureSimulator(deps, {
        actor: actor(request), patch: { operators: { [healthKey]: { down: !request.body.up } } },
        action: request.body.up ? 'operator.up' : 'operator.down', target: healthKey, reason: request.body.reason,
      });
      return success(request, { healthKey, up: deps.gateways.isUp(healthKey) });
    },
  );

  app.get('/console/api/support/audit', { schema: { hide: true, querystring: PageOnly } }, async (request) =>
    success(request, await listAuditPage(deps, request.query)),
  );

  app.get(
    '/console/api/support/stats',
    { schema: { hide: true, querystring: Type.Object({ hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 168 })) }) } },
    async (request) => {
      const hours = request.query.hours ?? 24;
      return success(request, { outcomesOverTime: await outcomesOverTime(deps, { hours }), timeToFinal: await timeToFinal(deps, { hours }) });
    },
  );
};
