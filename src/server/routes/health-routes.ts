/**
 * Probes for a process manager or a load balancer, on the API's port, no key needed:
 * `GET /livez` answers while the process runs (it checks nothing else, not even shutdown), and
 * `GET /readyz` answers 200 only when this process can serve: the store answers, its schema is the
 * one this code expects, and the server is not shutting down; otherwise 503 with the reason.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError, Success } from '@shahn/contract';
import { Type } from 'typebox';
import { LATEST_SCHEMA_VERSION } from '../../store/migrations.js';
import { success } from '../envelope.js';
import { errorResponses, type RoutesOptions } from './route-helpers.js';

const unavailable = (reason: string, message: string) => new AppError('SERVICE_UNAVAILABLE', message, { retryAfter: 5, reason }, { 'retry-after': '5' });

export const healthRoutes: FastifyPluginAsyncTypebox<RoutesOptions> = async (app, { deps }) => {
  const tags = ['Health'];
  app.get(
    '/livez',
    { config: { live: true }, schema: { tags, summary: 'The process answers (checks nothing else)', response: { 200: Success(Type.Object({ status: Type.Literal('live') })) } } },
    async (request) => success(request, { status: 'live' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags,
        summary: 'Ready to serve: the store answers, its schema is current, not shutting down (503 with the reason otherwise)',
        response: { 200: Success(Type.Object({ status: Type.Literal('ready'), store: Type.String(), schemaVersion: Type.Integer() })), ...errorResponses },
      },
    },
    async (request) => {
      let version: number;
      try {
        await deps.store.ping();
        version = await deps.store.schemaVersion();
      } catch (err) {
        throw unavailable('store_unreachable', `The store cannot be reached: ${(err as Error).message}`);
      }
      if (version !== LATEST_SCHEMA_VERSION) {
        throw unavailable(
          version < LATEST_SCHEMA_VERSION ? 'schema_behind' : 'schema_ahead',
          `The store's schema is version ${version}; this shahn expects ${LATEST_SCHEMA_VERSION}${version < LATEST_SCHEMA_VERSION ? ' (run shahn migrate)' : ' (upgrade shahn)'}`,
        );
      }
      return success(request, { status: 'ready' as const, store: deps.store.kind, schemaVersion: version });
    },
  );
};
