import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IdParams, Page, PageQuery, PlansData, RefParams, SendBody, SendData, Success, Topup } from '@shahn/contract';
import { getTopupById, getTopupByRef } from '../../domain/get-topup.js';
import { listTopups } from '../../domain/list-topups.js';
import { sendTopup } from '../../domain/send-topup.js';
import { success } from '../envelope.js';
import { errorResponses, requireKey, type RoutesOptions } from './route-helpers.js';

export const mobileRoutes: FastifyPluginAsyncTypebox<RoutesOptions> = async (app, { deps }) => {
  const security = [{ accessToken: [] }];
  const tags = ['Mobile'];

  app.get(
    '/v3/mobile/plans',
    { config: { auth: 'read' }, schema: { tags, summary: 'Mobile plans (dynamic and fixed)', security, response: { 200: Success(PlansData), ...errorResponses } } },
    async (request) => success(request, (await deps.catalogue.get()).wire),
  );

  app.post(
    '/v3/mobile/send',
    {
      config: { auth: 'write' },
      schema: { tags, summary: 'Send a mobile top-up', security, body: SendBody, response: { 200: Success(SendData), ...errorResponses } },
    },
    async (request) => success(request, await sendTopup(deps, { key: requireKey(request), body: request.body })),
  );

  app.get(
    '/v3/mobile/check-id/:id',
    {
      config: { auth: 'read' },
      schema: { tags, summary: 'Top-up status by id', security, params: IdParams, response: { 200: Success(Topup), ...errorResponses } },
    },
    async (request) => success(request, await getTopupById(deps, { key: requireKey(request), id: request.params.id })),
  );

  app.get(
    '/v3/mobile/check-ref/:ref',
    {
      config: { auth: 'read' },
      schema: { tags, summary: 'Top-up status by your reference', security, params: RefParams, response: { 200: Success(Topup), ...errorResponses } },
    },
    async (request) => success(request, await getTopupByRef(deps, { key: requireKey(request), ref: request.params.ref })),
  );

  app.get(
    '/v3/mobile/list',
    {
      config: { auth: 'read' },
      schema: { tags, summary: 'Top-ups of this environment, newest first', security, querystring: PageQuery, response: { 200: Success(Page(Topup)), ...errorResponses } },
    },
    async (request) => success(request, await listTopups(deps, { key: requireKey(request), query: request.query })),
  );
};
