/**
 * The merchant console's webhook pages: the same operations as /v3/webhooks, for the session's
 * merchant in the environment chosen on the page (an endpoint's own environment once it exists).
 * Another merchant's endpoint is NOT_FOUND, as on the API.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { AppError, PageQuery } from '@shahn/contract';
import { Type } from 'typebox';
import type { Deps } from '../../domain/deps.js';
import { createEndpoint, deleteEndpoint, enableEndpoint, getDelivery, listDeliveries, listEndpoints, replayEvents, rotateSecret, sendTestEvent, type WebhookOwner } from '../../domain/webhooks.js';
import type { Env } from '../../store/store.js';
import { success } from '../envelope.js';
import { CreateBody, DeliveryParams, EndpointParams, ReplayBody } from '../routes/webhook-routes.js';
import { sessionOf } from './console-auth.js';

const EnvField = Type.Enum(['PRODUCTION', 'SANDBOX']);

export const merchantWebhookRoutes: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const merchantId = (request: FastifyRequest) => sessionOf(request).login.subjectId;
  const actor = (request: FastifyRequest) => `merchant:${sessionOf(request).login.login}`;
  /** The owner of an existing endpoint: the session's merchant, in the endpoint's environment. */
  const ownerOf = async (request: FastifyRequest, id: string): Promise<WebhookOwner> => {
    const e = await deps.store.webhooks.getEndpoint(id);
    if (!e || e.merchantId !== merchantId(request)) throw new AppError('NOT_FOUND', 'Webhook endpoint not found');
    return { merchantId: e.merchantId, type: e.env };
  };
  const schema = { hide: true };

  app.get('/console/api/merchant/webhooks', { schema: { ...schema, querystring: Type.Object({ env: Type.Optional(EnvField) }) } }, async (request) =>
    success(request, await listEndpoints(deps, { merchantId: merchantId(request), type: (request.query.env ?? 'PRODUCTION') as Env })),
  );
  app.post('/console/api/merchant/webhooks', { schema: { ...schema, body: Type.Object({ ...CreateBody.properties, env: EnvField }, { additionalProperties: false }) } }, async (request) => {
    const { env, ...body } = request.body;
    return success(request, await createEndpoint(deps, { merchantId: merchantId(request), type: env as Env }, body));
  });
  app.post('/console/api/merchant/webhooks/:id/delete', { schema: { ...schema, params: EndpointParams } }, async (request) =>
    success(request, await deleteEndpoint(deps, await ownerOf(request, request.params.id), request.params.id)),
  );
  app.post('/console/api/merchant/webhooks/:id/rotate-secret', { schema: { ...schema, params: EndpointParams } }, async (request) =>
    success(request, await rotateSecret(deps, await ownerOf(request, request.params.id), request.params.id)),
  );
  app.post('/console/api/merchant/webhooks/:id/test', { schema: { ...schema, params: EndpointParams } }, async (request) =>
    success(request, await sendTestEvent(deps, await ownerOf(request, request.params.id), request.params.id)),
  );
  app.post('/console/api/merchant/webhooks/:id/enable', { schema: { ...schema, params: EndpointParams } }, async (request) =>
    success(request, await enableEndpoint(deps, await ownerOf(request, request.params.id), request.params.id, actor(request))),
  );
  app.get('/console/api/merchant/webhooks/:id/deliveries', { schema: { ...schema, params: EndpointParams, querystring: PageQuery } }, async (request) =>
    success(request, await listDeliveries(deps, await ownerOf(request, request.params.id), request.params.id, request.query)),
  );
  app.get('/console/api/merchant/webhooks/:id/deliveries/:deliveryId', { schema: { ...schema, params: DeliveryParams } }, async (request) =>
    success(request, await getDelivery(deps, await ownerOf(request, request.params.id), request.params.id, request.params.deliveryId)),
  );
  app.post('/console/api/merchant/webhooks/:id/replay', { schema: { ...schema, params: EndpointParams, body: ReplayBody } }, async (request) =>
    success(request, await replayEvents(deps, await ownerOf(request, request.params.id), request.params.id, request.body)),
  );
};
