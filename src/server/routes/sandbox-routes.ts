/** The sandbox clock of the calling merchant (contract section 6): SANDBOX keys only. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SandboxAdvanceBody, SandboxClock, Success } from '@shahn/contract';
import { advanceSandboxClock, getSandboxClock, resetSandboxClock } from '../../domain/sandbox-clock.js';
import { success } from '../envelope.js';
import { errorResponses, requireKey, type RoutesOptions } from './route-helpers.js';

export const sandboxRoutes: FastifyPluginAsyncTypebox<RoutesOptions> = async (app, { deps }) => {
  const security = [{ accessToken: [] }];
  const tags = ['Sandbox'];
  const response = { 200: Success(SandboxClock), ...errorResponses };

  app.get(
    '/v3/sandbox/clock',
    { config: { auth: 'read' }, schema: { tags, summary: "The sandbox clock's time and offset (SANDBOX keys; a PRODUCTION key gets 403 SANDBOX_ONLY)", security, response } },
    async (request) => success(request, await getSandboxClock(deps, requireKey(request))),
  );

  app.post(
    '/v3/sandbox/clock/advance',
    {
      config: { auth: 'write' },
      schema: { tags, summary: "Move this merchant's sandbox forward by `seconds` (1 s to 30 days): its orders' timelines and webhooks follow", security, body: SandboxAdvanceBody, response },
    },
    async (request) => success(request, await advanceSandboxClock(deps, requireKey(request), request.body.seconds)),
  );

  app.post(
    '/v3/sandbox/clock/reset',
    { config: { auth: 'write' }, schema: { tags, summary: "Take this merchant's sandbox back to real time", security, response } },
    async (request) => success(request, await resetSandboxClock(deps, requireKey(request))),
  );
};
