/**
 * The admin and support API: `Authorization: Bearer <admin token>` (never a merchant key).
 * Thin routes over the support functions; every change is audited there.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '@shahn/contract';
import { IdParams, PageQuery, Success } from '@shahn/contract';
import { createMerchant } from '../../domain/create-merchant.js';
import { creditMerchant } from '../../domain/credit-merchant.js';
import { presentTransaction } from '../../domain/present.js';
import { auditRecord, listAuditPage } from '../../support/audit.js';
import { listMerchants } from '../../support/list-merchants.js';
import { configureSimulator } from '../../support/configure-simulator.js';
import { listUncertainOrders } from '../../support/list-uncertain-orders.js';
import { createKey, listKeys, rotateKey, updateKey } from '../../support/manage-keys.js';
import { resendOrder } from '../../support/resend-order.js';
import { getOrderWithAudit } from '../../support/find-order.js';
import { resolveOrder } from '../../support/resolve-order.js';
import { updatePlan } from '../../support/update-plan.js';
import { success } from '../envelope.js';
import { errorResponses, type RoutesOptions } from './route-helpers.js';

export type AdminRoutesOptions = RoutesOptions;

const Reason = Type.Optional(Type.String({ maxLength: 1000 }));
/** Admin answers are documented loosely; the v3 contract's routes carry exact schemas. */
const responses = { 200: Success(Type.Any()), ...errorResponses };

export const adminRoutes: FastifyPluginAsyncTypebox<AdminRoutesOptions> = async (app, { deps }) => {
  const config = { admin: true } as const;
  const security = [{ adminToken: [] }];
  const tags = ['Admin and support'];
  const actor = (request: { admin: { name: string } | null }) => `admin:${request.admin?.name ?? '?'}`;

  app.get(
    '/admin/orders/uncertain',
    { config, schema: { tags, security, summary: 'UNKNOWN_ERROR orders, oldest first', querystring: Type.Pick(PageQuery, ['page', 'pageSize']), response: responses } },
    async (request) => success(request, await listUncertainOrders(deps, request.query)),
  );

  app.get(
    '/admin/orders/:id',
    { config, schema: { tags, security, summary: 'One order of any merchant, with its audit trail', params: IdParams, response: responses } },
    async (request) => success(request, await getOrderWithAudit(deps, request.params.id)),
  );

  app.post(
    '/admin/orders/:id/resolve',
    {
      config,
      schema: {
        tags, security, summary: 'Resolve an UNKNOWN_ERROR order to FULFILLED or REFUNDED (exactly once)',
        params: IdParams,
        body: Type.Object({ status: Type.Enum(['FULFILLED', 'REFUNDED']), reason: Type.String({ minLength: 1, maxLength: 1000 }), refundMessage: Type.Optional(Type.String({ maxLength: 500 })) }),
        response: responses,
      },
    },
    async (request) =>
      success(request, await resolveOrder(deps, { actor: actor(request), orderId: request.params.id, to: request.body.status as 'FULFILLED' | 'REFUNDED', reason: request.body.reason, refundMessage: request.body.refundMessage })),
  );

  app.post(
    '/admin/orders/:id/resend',
    {
      config,
      schema: {
        tags, security, summary: 'Re-send a REFUNDED order as a new one (retry_orderid / follow_orderid)',
        params: IdParams,
        body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 1000 }) }),
        response: responses,
      },
    },
    async (request) => success(request, await resendOrder(deps, { actor: actor(request), orderId: request.params.id, reason: request.body.reason })),
  );

  app.get(
    '/admin/merchants',
    { config, schema: { tags, security, summary: 'Merchants with balances', querystring: Type.Pick(PageQuery, ['page', 'pageSize']), response: responses } },
    async (request) => success(request, await listMerchants(deps, request.query)),
  );

  app.post(
    '/admin/merchants',
    {
      config,
      schema: { tags, security, summary: 'Create a merchant (keys shown once)', body: Type.Object({ username: Type.String({ maxLength: 20 }), balance: Type.Optional(Type.Number({ minimum: 0 })) }), response: responses },
    },
    async (request) => {
      const created = await createMerchant(deps, { username: request.body.username, balance: request.body.balance ?? 0 });
      await deps.store.audit.insertAudit(auditRecord(deps.clock.now(), actor(request), 'merchant.create', created.id, '', { username: created.username }));
      return success(request, created);
    },
  );

  app.post(
    '/admin/merchants/:username/credit',
    {
      config,
      schema: {
        tags, security, summary: "Credit a merchant's balance (DEPOSIT)",
        params: Type.Object({ username: Type.String({ maxLength: 20 }) }),
        body: Type.Object({ amount: Type.Union([Type.Number(), Type.String({ maxLength: 20 })]), note: Type.Optional(Type.String({ maxLength: 500 })), reason: Reason }),
        response: responses,
      },
    },
    async (request) => {
      const entry = await creditMerchant(deps, {
        username: request.params.username,
        amount: request.body.amount,
        ...(request.body.note !== undefined ? { note: request.body.note } : {}),
        actor: actor(request),
        ...(request.body.reason !== undefined ? { reason: request.body.reason } : {}),
      });
      return success(request, presentTransaction(entry));
    },
  );

  app.get(
    '/admin/merchants/:username/keys',
    { config, schema: { tags, security, summary: "A merchant's keys (never the secrets)", params: Type.Object({ username: Type.String({ maxLength: 20 }) }), response: responses } },
    async (request) => success(request, { items: await listKeys(deps, { username: request.params.username }) }),
  );

  app.post(
    '/admin/merchants/:username/keys',
    {
      config,
      schema: {
        tags, security, summary: 'Create a key (shown once)',
        params: Type.Object({ username: Type.String({ maxLength: 20 }) }),
        body: Type.Object({ type: Type.String(), scope: Type.Optional(Type.String()), allowedips: Type.Optional(Type.Array(Type.String(), { maxItems: 100 })), reason: Reason }),
        response: responses,
      },
    },
    async (request) => success(request, await createKey(deps, { actor: actor(request), username: request.params.username, ...request.body })),
  );

  app.patch(
    '/admin/keys/:id',
    {
      config,
      schema: {
        tags, security, summary: 'Enable or disable a key; set its IP allow-list',
        params: IdParams,
        body: Type.Object({ isEnabled: Type.Optional(Type.Boolean()), allowedips: Type.Optional(Type.Array(Type.String(), { maxItems: 100 })), reason: Reason }),
        response: responses,
      },
    },
    async (request) => success(request, await updateKey(deps, { actor: actor(request), keyId: request.params.id, ...request.body })),
  );

  app.post(
    '/admin/keys/:id/rotate',
    {
      config,
      schema: { tags, security, summary: 'Disable a key and issue its replacement (shown once)', params: IdParams, body: Type.Optional(Type.Object({ reason: Reason })), response: responses },
    },
    async (request) => success(request, await rotateKey(deps, { actor: actor(request), keyId: request.params.id, ...(request.body?.reason !== undefined ? { reason: request.body.reason } : {}) })),
  );

  app.patch(
    '/admin/plans/:code',
    {
      config,
      schema: {
        tags, security, summary: 'Edit a plan (enable/disable, cost, range or amount, name)',
        params: Type.Object({ code: Type.String({ maxLength: 64 }) }),
        body: Type.Object({
          name: Type.Optional(Type.String()), isEnabled: Type.Optional(Type.Boolean()), cost: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
          min_amount: Type.Optional(Type.Integer()), max_amount: Type.Optional(Type.Integer()), amount: Type.Optional(Type.Integer()), reason: Reason,
        }),
        response: responses,
      },
    },
    async (request) => {
      const { reason, ...patch } = request.body;
      return success(request, await updatePlan(deps, { actor: actor(request), code: request.params.code, patch, ...(reason !== undefined ? { reason } : {}) }));
    },
  );

  app.get(
    '/admin/audit',
    { config, schema: { tags, security, summary: 'The audit trail, newest first', querystring: Type.Object({ page: PageQuery.properties.page, pageSize: PageQuery.properties.pageSize, target: Type.Optional(Type.String({ maxLength: 64 })) }), response: responses } },
    async (request) => success(request, await listAuditPage(deps, request.query)),
  );

  // The simulator's controls exist only when a simulator gateway is configured (SHAHN_GATEWAYS, or the default).
  if (!deps.gateways.simulator()) return;
  const Gateway = Type.Object({ gateway: Type.Optional(Type.String({ maxLength: 64, description: 'which simulator gateway (default: the first)' })) });

  app.get('/admin/simulator', { config, schema: { tags, security, summary: 'The operator simulator configuration', querystring: Gateway, response: responses } }, async (request) => {
    const simulator = deps.gateways.simulator(request.query.gateway);
    if (!simulator) throw new AppError('NOT_FOUND', `No simulator gateway named '${request.query.gateway ?? ''}' in this process`);
    return success(request, simulator.config());
  });

  app.patch(
    '/admin/simulator',
    { config, schema: { tags, security, summary: 'Change the simulator at runtime (latency, outcome rates, outages, forced numbers)', querystring: Gateway, body: Type.Object({}, { additionalProperties: true }), response: responses } },
    async (request) => success(request, await configureSimulator(deps, { actor: actor(request), patch: request.body, gateway: request.query.gateway })),
  );
};
