/** /v3/webhooks: a merchant's webhook endpoints, managed with its key (a read-only key may list them). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Page, PageQuery, Success } from '@shahn/contract';
import { Type } from 'typebox';
import { createEndpoint, deleteEndpoint, enableEndpoint, getDelivery, listDeliveries, listEndpoints, replayEvents, rotateSecret, sendTestEvent, WEBHOOK_EVENT_TYPES } from '../../domain/webhooks.js';
import { success } from '../envelope.js';
import { errorResponses, requireKey, type RoutesOptions } from './route-helpers.js';

const EventType = Type.Enum([...WEBHOOK_EVENT_TYPES]);
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Endpoint = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(EventType),
  description: Nullable(Type.String()),
  createdAt: Type.String(),
  disabledAt: Nullable(Type.String()),
  disabledReason: Nullable(Type.String()),
});
export const CreateBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'https://…; http:// and private addresses only with SHAHN_WEBHOOK_ALLOW_PRIVATE' }),
    events: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 8, description: 'the event types to receive; absent or empty: every type' })),
    description: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export const EndpointParams = Type.Object({ id: Type.String({ pattern: '^we_[0-9a-f]{24}$' }) });
const Delivery = Type.Object({
  id: Type.String(),
  eventId: Type.String(),
  type: Type.String(),
  attempts: Type.Integer(),
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Nullable(Type.String()),
  deliveredAt: Nullable(Type.String()),
  nextAttemptAt: Nullable(Type.String()),
  createdAt: Type.String(),
});
const Attempt = Type.Object({
  attempt: Type.Integer(),
  at: Type.String(),
  durationMs: Type.Integer(),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
  response: Nullable(Type.String()),
  error: Nullable(Type.String()),
});
const DeliveryDetail = Type.Intersect([Delivery, Type.Object({ attemptLog: Type.Array(Attempt), body: Nullable(Type.String()) })]);
export const DeliveryParams = Type.Object({ id: EndpointParams.properties.id, deliveryId: Type.String({ pattern: '^[0-9a-f]{24}$' }) });
export const ReplayBody = Type.Object({ from: Type.String({ format: 'date-time' }), to: Type.String({ format: 'date-time' }) }, { additionalProperties: false });

export const webhookRoutes: FastifyPluginAsyncTypebox<RoutesOptions> = async (app, { deps }) => {
  const security = [{ accessToken: [] }];
  const tags = ['Webhooks'];
  app.post(
    '/v3/webhooks',
    {
      config: { auth: 'write' },
      schema: { tags, summary: 'Add a webhook endpoint (its secret is shown only now)', security, body: CreateBody, response: { 200: Success(Type.Intersect([Endpoint, Type.Object({ secret: Type.String() })])), ...errorResponses } },
    },
    async (request) => success(request, await createEndpoint(deps, requireKey(request), request.body)),
  );
  app.get(
    '/v3/webhooks',
    { config: { auth: 'read' }, schema: { tags, summary: "The key's environment's webhook endpoints", security, response: { 200: Success(Type.Object({ items: Type.Array(Endpoint) })), ...errorResponses } } },
    async (request) => success(request, await listEndpoints(deps, requireKey(request))),
  );
  app.delete(
    '/v3/webhooks/:id',
    { config: { auth: 'write' }, schema: { tags, summary: 'Delete a webhook endpoint', security, params: EndpointParams, response: { 200: Success(Type.Object({ deleted: Type.Boolean() })), ...errorResponses } } },
    async (request) => success(request, await deleteEndpoint(deps, requireKey(request), request.params.id)),
  );
  app.post(
    '/v3/webhooks/:id/rotate-secret',
    {
      config: { auth: 'write' },
      schema: { tags, summary: 'A new secret; the old one signs alongside it for 24 h', security, params: EndpointParams, response: { 200: Success(Type.Object({ id: Type.String(), secret: Type.String(), previousSecretExpiresAt: Type.String() })), ...errorResponses } },
    },
    async (request) => success(request, await rotateSecret(deps, requireKey(request), request.params.id)),
  );
  app.post(
    '/v3/webhooks/:id/test',
    { config: { auth: 'write' }, schema: { tags, summary: 'Send a ping event to the endpoint', security, params: EndpointParams, response: { 200: Success(Type.Object({ eventId: Type.String() })), ...errorResponses } } },
    async (request) => success(request, await sendTestEvent(deps, requireKey(request), request.params.id)),
  );
  app.get(
    '/v3/webhooks/:id/deliveries',
    {
      config: { auth: 'read' },
      schema: { tags, summary: "An endpoint's deliveries, newest first", security, params: EndpointParams, querystring: PageQuery, response: { 200: Success(Page(Delivery)), ...errorResponses } },
    },
    async (request) => success(request, await listDeliveries(deps, requireKey(request), request.params.id, request.query)),
  );
  app.get(
    '/v3/webhooks/:id/deliveries/:deliveryId',
    {
      config: { auth: 'read' },
      schema: { tags, summary: 'One delivery: every attempt with its status, duration and the start of the answer, and the body sent', security, params: DeliveryParams, response: { 200: Success(DeliveryDetail), ...errorResponses } },
    },
    async (request) => success(request, await getDelivery(deps, requireKey(request), request.params.id, request.params.deliveryId)),
  );
  app.post(
    '/v3/webhooks/:id/enable',
    { config: { auth: 'write' }, schema: { tags, summary: 'Put a disabled endpoint back in service (replay brings what it missed)', security, params: EndpointParams, response: { 200: Success(Endpoint), ...errorResponses } } },
    async (request) => {
      const key = requireKey(request);
      return success(request, await enableEndpoint(deps, key, request.params.id, `key:${key.id}`));
    },
  );
  app.post(
    '/v3/webhooks/:id/replay',
    {
      config: { auth: 'write' },
      schema: { tags, summary: 'Deliver again every event of a window (the same event ids)', security, params: EndpointParams, body: ReplayBody, response: { 200: Success(Type.Object({ replayed: Type.Integer() })), ...errorResponses } },
    },
    async (request) => success(request, await replayEvents(deps, requireKey(request), request.params.id, request.body)),
  );
};
