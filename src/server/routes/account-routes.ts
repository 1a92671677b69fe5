import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BalanceData, Page, PageQuery, Success, Transaction } from '@shahn/contract';
import { getBalance } from '../../domain/get-balance.js';
import { listTransactions } from '../../domain/list-transactions.js';
import { success } from '../envelope.js';
import { errorResponses, requireKey, type RoutesOptions } from './route-helpers.js';

export const accountRoutes: FastifyPluginAsyncTypebox<RoutesOptions> = async (app, { deps }) => {
  const security = [{ accessToken: [] }];
  app.get(
    '/v3/account/balance',
    { config: { auth: 'read' }, schema: { tags: ['Account'], summary: 'Current balance', security, response: { 200: Success(BalanceData), ...errorResponses } } },
    async (request) => success(request, await getBalance(deps, { key: requireKey(request) })),
  );

  app.get(
    '/v3/account/transactions',
    {
      config: { auth: 'read' },
      schema: {
        tags: ['Account'],
        summary: 'The ledger, newest first',
        security,
        querystring: PageQuery,
        response: { 200: Success(Page(Transaction)), ...errorResponses },
      },
    },
    async (request) => {
      const key = requireKey(request);
      return success(request, await listTransactions(deps, { merchantId: key.merchantId, env: key.type, query: request.query }));
    },
  );
};
