import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PingData, Success, ValidateData } from '@shahn/contract';
import { getPing } from '../../domain/get-ping.js';
import { success } from '../envelope.js';
import { errorResponses, requireKey, type RoutesOptions } from './route-helpers.js';

export const coreRoutes: FastifyPluginAsyncTypebox<RoutesOptions> = async (app, { deps }) => {
  app.get(
    '/v3/ping',
    { schema: { tags: ['Core'], summary: 'API and operator health (no key needed)', response: { 200: Success(PingData), ...errorResponses } } },
    async (request) => success(request, await getPing(deps)),
  );

  app.get(
    '/v3/validate',
    {
      config: { auth: 'read' },
      schema: { tags: ['Core'], summary: 'Validate the access token', security: [{ accessToken: [] }], response: { 200: Success(ValidateData), ...errorResponses } },
    },
    async (request) => {
      const key = requireKey(request);
      return success(request, {
        username: key.username,
        apiKey: { key: request.presentedKey, isEnabled: key.isEnabled, type: key.type, allowedips: key.allowedIps, scope: key.scope },
      });
    },
  );
};
