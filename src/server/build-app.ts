/**
 * buildApp() makes the Fastify app; listen() is separate (serve.ts), so tests drive it with inject()
 * or a real listener. The flow of a request: onRequest (request id, shutdown, key, rate limit,
 * scope) → body parse (16 KiB) → schema validation → thin route → one domain call → envelope.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AppError, isAppError } from '@shahn/contract';
import { authenticateKey } from '../domain/authenticate-key.js';
import type { Deps } from '../domain/deps.js';
import { newRequestId } from '../lib/ids.js';
import { StoreUnavailableError, type AdminRecord, type KeyRecord } from '../store/store.js';
import { errorBody, sendError } from './envelope.js';
import { clientErrorHandler, onUnsupportedExpectation } from './client-errors.js';
import { makeFastCheckId } from './fast-check-id.js';
import { createServer } from 'node:http';
import { accountRoutes } from './routes/account-routes.js';
import { coreRoutes } from './routes/core-routes.js';
import { mobileRoutes } from './routes/mobile-routes.js';
import { adminRoutes } from './routes/admin-routes.js';
import { consoleRoutes } from '../console/console-routes.js';
import { authenticateAdmin } from '../support/admins.js';
import type { OperatorSimulator } from '../gateways/operator-simulator.js';
import { ajvToAppError, validatorCompiler } from './validation.js';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: KeyRecord | null;
    admin: AdminRecord | null;
    presentedKey: string;
  }
  interface FastifyContextConfig {
    /** 'read': any valid key; 'write': a READ-WRITE key. Absent: no key needed. */
    auth?: 'read' | 'write';
    /** Admin and support routes: an admin token in `Authorization: Bearer …`. */
    admin?: boolean;
  }
}

export const BODY_LIMIT = 16 * 1024;

export interface BuildAppOptions {
  /** A pino logger to use; by default one is made from config.logLevel. */
  logger?: Logger;
  /** The operator simulator, for the admin API's runtime configuration. */
  simulator?: OperatorSimulator;
}

export interface ShahnApp extends FastifyInstance {
  /** Stop taking new requests (503) before close(). */
  beginShutdown(): void;
  /** Requests answered by the check-id hot path (the rest went through fastify). */
  fastPathAnswered(): number;
}

function appErrorFrom(err: FastifyError & { validation?: unknown; validationContext?: string }, request: FastifyRequest): AppError {
  if (isAppError(err)) return err;
  if (err instanceof StoreUnavailableError || (err as { code?: string }).code === 'SQLITE_BUSY') {
    return new AppError('SERVICE_UNAVAILABLE', 'The store is unavailable; retry shortly', { retryAfter: 2 }, { 'retry-after': '2' });
  }
  if (Array.isArray(err.validation)) {
    const part = err.validationContext ?? 'body';
    const input = part === 'querystring' ? request.query : part === 'params' ? request.params : part === 'headers' ? request.headers : request.body;
    return ajvToAppError(err.validation, part, input);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', `Request body is larger than ${BODY_LIMIT} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('ERR_VALIDATION', 'body must be sent with Content-Type: application/json', { field: '', reason: 'content_type' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('ERR_VALIDATION', 'body must be a JSON object, got an empty body', { field: '', reason: 'empty_body' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('ERR_VALIDATION', 'body is not valid JSON', { field: '', reason: 'malformed_json' });
    default:
      break;
  }
  if (err instanceof SyntaxError || err.statusCode === 400) {
    return new AppError('ERR_VALIDATION', 'body is not valid JSON', { field: '', reason: 'malformed_json' });
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    if (err.statusCode === 413) return new AppError('PAYLOAD_TOO_LARGE');
    if (err.statusCode === 404) return new AppError('NOT_FOUND', 'Route not found');
    return new AppError('ERR_VALIDATION', 'The request could not be read', { field: '', reason: 'bad_request' });
  }
  return new AppError('INTERNAL_ERROR');
}

export async function buildApp(deps: Deps, options: BuildAppOptions = {}): Promise<ShahnApp> {
  const { config } = deps;
  const limiter = deps.limiter;
  let closing = false;
  let fastCheckId: ReturnType<typeof makeFastCheckId> | undefined;

  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: { level: config.logLevel } }),
    genReqId: () => newRequestId(),
    requestIdHeader: false,
    // Fastify's own per-request lines are off; config.accessLog adds one line per request instead.
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    trustProxy: config.trustProxy,
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 512 },
    clientErrorHandler,
    // Our own node:http server: the check-id hot path (fast-check-id.ts) answers before fastify's
    // router when it can; everything else goes to fastify. A missing Host header is accepted.
    serverFactory: (handler, opts) => {
      const server = createServer({ requireHostHeader: false }, (req, res) => {
        if (fastCheckId?.(req, res, () => handler(req, res))) return;
        handler(req, res);
      });
      // What fastify sets on the servers it makes itself (keep-alive 72 s, not node's 5 s).
      const o = opts as { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number; maxRequestsPerSocket?: number };
      if (o.keepAliveTimeout !== undefined) server.keepAliveTimeout = o.keepAliveTimeout;
      if (o.requestTimeout !== undefined) server.requestTimeout = o.requestTimeout;
      if (o.connectionTimeout !== undefined) server.setTimeout(o.connectionTimeout);
      if (o.maxRequestsPerSocket) server.maxRequestsPerSocket = o.maxRequestsPerSocket;
      return server;
    },
    frameworkErrors: (error, request, reply) => {
      reply.header('x-request-id', request.id);
      const err =
        error.code === 'FST_ERR_BAD_URL'
          ? new AppError('NOT_FOUND', 'Route not found', { reason: 'malformed_url' })
          : new AppError('ERR_VALIDATION', 'The request could not be read', { field: '', reason: 'bad_request' });
      void sendError(reply, err);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.server.on('checkExpectation', onUnsupportedExpectation);
  app.setValidatorCompiler(validatorCompiler);
  app.decorateRequest('apiKey', null);
  app.decorateRequest('presentedKey', '');
  app.decorateRequest('admin', null);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const err = appErrorFrom(error, request);
    if (err.code === 'INTERNAL_ERROR') request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, err);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new AppError('NOT_FOUND', 'Route not found')));

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('x-request-id', request.id);
    if (closing) throw new AppError('SERVICE_UNAVAILABLE', 'The server is shutting down', { retryAfter: 5 }, { 'retry-after': '5' });
    if (request.routeOptions.config.admin) {
      request.admin = await authenticateAdmin(deps, request.headers.authorization);
      return;
    }
    const auth = request.routeOptions.config.auth;
    if (!auth) return;
    const header = request.headers['x-access-token'];
    const presented = Array.isArray(header) ? header[0] : header;
    const key = await authenticateKey(deps, { key: presented, ip: request.ip });
    const wait = limiter.take(key.id);
    if (wait > 0) throw new AppError('RATE_LIMITED', undefined, { retryAfter: wait }, { 'retry-after': String(wait) });
    if (auth === 'write' && key.scope === 'READ-ONLY') throw new AppError('READ_ONLY_KEY');
    request.apiKey = key;
    request.presentedKey = presented ?? '';
  });

  if (config.accessLog) {
    app.addHook('onResponse', async (request, reply) => {
      request.log.info(
        { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 },
        'request completed',
      );
    });
  }

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'shahn: OneClickDz Flexy API v3 (mobile)',
        description:
          'The v3 mobile top-up contract. Authenticate with the X-Access-Token header. A SANDBOX key selects the sandbox. Every response carries requestId (body) and X-Request-Id (header).',
        version: '3.0.0',
      },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: {
          accessToken: { type: 'apiKey', in: 'header', name: 'X-Access-Token' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'An admin token from `shahn admin create` (admin and support API only)' },
        },
      },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(coreRoutes, { deps });
  await app.register(accountRoutes, { deps });
  await app.register(mobileRoutes, { deps });
  await app.register(adminRoutes, { deps, ...(options.simulator ? { simulator: options.simulator } : {}) });
  await app.register(consoleRoutes, { deps, ...(options.simulator ? { simulator: options.simulator } : {}) });

  // The hot path shares the key cache, guards, limiter, store and logger; off behind a trusted proxy
  // (the client IP would come from X-Forwarded-For, which fastify resolves).
  if (!config.trustProxy) {
    fastCheckId = makeFastCheckId(deps, { isClosing: () => closing, accessLog: config.accessLog ? app.log : undefined });
  }

  const shahn = app as unknown as ShahnApp;
  shahn.beginShutdown = () => {
    closing = true;
  };
  shahn.fastPathAnswered = () => fastCheckId?.stats.answered ?? 0;
  return shahn;
}

export { errorBody };
