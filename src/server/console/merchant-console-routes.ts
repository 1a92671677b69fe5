/**
 * The merchant's pages: orders (live status, filters, pages), balance and transactions, keys, and a
 * "try it" sandbox send. Every query is scoped to the session's merchant: another merchant's order
 * or key is NOT_FOUND, exactly as on the v3 API.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError, IdParams, KEY_SCOPES, KEY_TYPES, SandboxAdvanceBody, SendBody, TOPUP_STATUSES } from '@shahn/contract';
import type { Deps } from '../../domain/deps.js';
import { toPage, toPageRequest } from '../../domain/pagination.js';
import { presentTopup } from '../../domain/present.js';
import { advanceSandboxClock, getSandboxClock, readingTime, resetSandboxClock } from '../../domain/sandbox-clock.js';
import { sendTopup } from '../../domain/send-topup.js';
import { listTransactions } from '../../domain/list-transactions.js';
import { centimesToDzd } from '../../lib/money.js';
import type { Env, KeyRecord, MerchantRecord, OrderRecord } from '../../store/store.js';
import { createKey, listKeys, rotateKey, updateKey } from '../../support/manage-keys.js';
import { success } from '../envelope.js';
import { sessionOf } from './console-auth.js';
import { balanceOverTime, ordersOverTime, timeToFinal } from './stats.js';
import type { FastifyRequest } from 'fastify';

const EnvQuery = Type.Enum(['PRODUCTION', 'SANDBOX']);

export const merchantConsoleRoutes: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const merchantOf = async (request: FastifyRequest): Promise<MerchantRecord> => {
    const m = await deps.store.accounts.findMerchantById(sessionOf(request).login.subjectId);
    if (!m) throw new AppError('CONSOLE_UNAUTHORIZED', 'This merchant no longer exists');
    return m;
  };
  const actor = (m: MerchantRecord) => `merchant:${m.username}`;
  /** An order as the merchant sees it at `now` (for a sandbox order, the merchant's sandbox time). */
  const present = (now: number) => (o: OrderRecord) => ({ ...presentTopup(o, now, deps.config.sandbox), env: o.env });
  const ownKey = async (m: MerchantRecord, id: string): Promise<KeyRecord> => {
    const k = await deps.store.accounts.findKeyById(id);
    if (!k || k.merchantId !== m.id) throw new AppError('NOT_FOUND', `Key '${id}' not found`);
    return k;
  };

  app.get(
    '/console/api/merchant/overview',
    { schema: { hide: true, querystring: Type.Object({ env: Type.Optional(EnvQuery), hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 168 })) }) } },
    async (request) => {
      const m = await merchantOf(request);
      const env = (request.query.env ?? 'PRODUCTION') as Env;
      const hours = request.query.hours ?? 24;
      return success(request, {
        merchant: { id: m.id, username: m.username, balance: centimesToDzd(m.balance) },
        ordersOverTime: await ordersOverTime(deps, { merchantId: m.id, env, hours }),
        timeToFinal: await timeToFinal(deps, { merchantId: m.id, hours }),
        balanceOverTime: await balanceOverTime(deps, m.id),
      });
    },
  );

  app.get(
    '/console/api/merchant/orders',
    {
      schema: {
        hide: true,
        querystring: Type.Object({
          env: Type.Optional(EnvQuery),
          status: Type.Optional(Type.Enum([...TOPUP_STATUSES])),
          mssidn: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
          ref: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
          page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
          pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        }),
      },
    },
    async (request) => {
      const m = await merchantOf(request);
      const q = request.query;
      const { req, info } = toPageRequest({ page: q.page, pageSize: q.pageSize });
      const result = await deps.store.orders.listOrdersFiltered(
        m.id,
        (q.env ?? 'PRODUCTION') as Env,
        {
          ...(q.status ? { status: q.status } : {}),
          ...(q.mssidn ? { mssidn: q.mssidn } : {}),
          ...(q.ref ? { ref: q.ref } : {}),
          now: deps.clock.now(),
          timeline: deps.config.sandbox,
        },
        req,
      );
      return success(request, toPage(result, info, present(await readingTime(deps, m.id, (q.env ?? 'PRODUCTION') as Env))));
    },
  );

  app.get('/console/api/merchant/orders/:id', { schema: { hide: true, params: IdParams } }, async (request) => {
    const m = await merchantOf(request);
    const order =
      (await deps.store.orders.findOrderById(m.id, 'PRODUCTION', request.params.id)) ?? (await deps.store.orders.findOrderById(m.id, 'SANDBOX', request.params.id));
    if (!order) throw new AppError('NOT_FOUND', `Top-up with id '${request.params.id}' not found`);
    return success(request, present(await readingTime(deps, m.id, order.env))(order));
  });

  app.get(
    '/console/api/merchant/transactions',
    { schema: { hide: true, querystring: Type.Object({ page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })), pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) }) } },
    async (request) => {
      const m = await merchantOf(request);
      return success(request, { balance: centimesToDzd(m.balance), ...(await listTransactions(deps, { merchantId: m.id, env: 'PRODUCTION', query: request.query })) });
    },
  );

  app.get('/console/api/merchant/keys', { schema: { hide: true } }, async (request) => {
    const m = await merchantOf(request);
    return success(request, await listKeys(deps, { username: m.username }));
  });

  const AllowedIps = Type.Array(Type.String({ maxLength: 45 }), { maxItems: 100 });

  app.post(
    '/console/api/merchant/keys',
    { schema: { hide: true, body: Type.Object({ type: Type.Enum([...KEY_TYPES]), scope: Type.Optional(Type.Enum([...KEY_SCOPES])), allowedips: Type.Optional(AllowedIps) }) } },
    async (request) => {
      const m = await merchantOf(request);
      const b = request.body;
      return success(request, await createKey(deps, { actor: actor(m), username: m.username, type: b.type, ...(b.scope ? { scope: b.scope } : {}), ...(b.allowedips ? { allowedips: b.allowedips } : {}) }));
    },
  );

  app.post(
    '/console/api/merchant/keys/:id',
    { schema: { hide: true, params: IdParams, body: Type.Object({ isEnabled: Type.Optional(Type.Boolean()), allowedips: Type.Optional(AllowedIps) }) } },
    async (request) => {
      const m = await merchantOf(request);
      const k = await ownKey(m, request.params.id);
      const b = request.body;
      return success(request, await updateKey(deps, { actor: actor(m), keyId: k.id, ...(b.isEnabled !== undefined ? { isEnabled: b.isEnabled } : {}), ...(b.allowedips ? { allowedips: b.allowedips } : {}) }));
    },
  );

  app.post('/console/api/merchant/keys/:id/rotate', { schema: { hide: true, params: IdParams } }, async (request) => {
    const m = await merchantOf(request);
    const k = await ownKey(m, request.params.id);
    return success(request, await rotateKey(deps, { actor: actor(m), keyId: k.id }));
  });

  app.get('/console/api/merchant/plans', { schema: { hide: true } }, async (request) => {
    const catalogue = await deps.catalogue.get();
    return success(
      request,
      [...catalogue.plans.values()]
        .filter((p) => p.isEnabled)
        .map((p) => ({ code: p.code, name: p.name, operator: p.operator, prefixes: catalogue.operators.get(p.operator)?.prefixes ?? [], kind: p.kind, min: p.minAmount, max: p.maxAmount, amount: p.amount })),
    );
  });

  /** The merchant's sandbox, as a SANDBOX key of its own would reach it ("Try it" and its clock). */
  const sandboxKey = (m: MerchantRecord): KeyRecord => ({
    id: 'console', merchantId: m.id, username: m.username, keyHash: '', type: 'SANDBOX', scope: 'READ-WRITE', isEnabled: true, allowedIps: [], createdAt: m.createdAt,
  });

  /** "Try it": a sandbox send on behalf of the merchant (no balance effect), shown moving through its states. */
  app.post('/console/api/merchant/try', { schema: { hide: true, body: SendBody } }, async (request) => {
    const m = await merchantOf(request);
    // The same per-key limit as the API, for the merchant's console sends.
    const wait = deps.limiter.take(`console-try:${m.id}`);
    if (wait > 0) throw new AppError('RATE_LIMITED', undefined, { retryAfter: wait }, { 'retry-after': String(wait) });
    return success(request, await sendTopup(deps, { key: sandboxKey(m), body: request.body }));
  });

  // The sandbox clock (domain/sandbox-clock.ts), for the "Try it" page.
  app.get('/console/api/merchant/sandbox-clock', { schema: { hide: true } }, async (request) => success(request, await getSandboxClock(deps, sandboxKey(await merchantOf(request)))));
  app.post('/console/api/merchant/sandbox-clock/advance', { schema: { hide: true, body: SandboxAdvanceBody } }, async (request) =>
    success(request, await advanceSandboxClock(deps, sandboxKey(await merchantOf(request)), request.body.seconds)),
  );
  app.post('/console/api/merchant/sandbox-clock/reset', { schema: { hide: true } }, async (request) => success(request, await resetSandboxClock(deps, sandboxKey(await merchantOf(request)))));
};
