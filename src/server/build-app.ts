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
import { AppError } from '@shahn/contract/core';
import { authenticateKey } from '../domain/authenticate-key.js';
import { BLOCK_MS } from '../domain/brute-force-guard.js';
import type { Deps } from '../domain/deps.js';
import { newRequestId } from '../lib/ids.js';
import type { AdminRecord, KeyRecord } from '../store/store.js';
import { errorBody, sendError } from './envelope.js';
import { clientErrorHandler, onConnectRequest, onUnsupportedExpectation, rawErrorResponse } from './client-errors.js';
import { makeClientIp, trustFunction } from './client-ip.js';
import { makeFastCheckId } from './fast-check-id.js';
import { rawHeader } from './fast-path.js';
import { makeFastSend } from './fast-send.js';
import { createServer } from 'node:http';
import { accountRoutes } from './routes/account-routes.js';
import { webhookRoutes } from './routes/webhook-routes.js';
import { coreRoutes } from './routes/core-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { mobileRoutes } from './routes/mobile-routes.js';
import { sandboxRoutes } from './routes/sandbox-routes.js';
import { adminRoutes } from './routes/admin-routes.js';
import { consoleRoutes } from './console/console-routes.js';
import { authenticateAdmin } from '../support/admins.js';
import { validatorCompiler } from './validation.js';
import { appErrorFrom, BODY_LIMIT, isFault } from './app-errors.js';
import { accessLineWriter } from '../lib/access-line.js';

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
    /** /livez: answered while the process runs, shutting down or not. */
    live?: boolean;
  }
}

export { BODY_LIMIT };
/** How often Node checks open connections against the request and headers timeouts. */
const TIMEOUT_CHECK_MS = 1000;

export interface BuildAppOptions {
  /** A pino logger to use; by default one is made from config.logLevel. */
  logger?: Logger;
}

export interface ShahnApp extends FastifyInstance {
  /** Stop taking new requests (503) before close(). */
  beginShutdown(): void;
  /** Requests answered by the hot paths of check-id and send (the rest went through fastify). */
  fastPathAnswered(): number;
}

/**
 * A warning line for what an operator investigating abuse needs: each invalid key, each block as it
 * starts, each failed console login. The client IP, never a key, a password or a login name.
 */
function logAbuse(request: FastifyRequest, err: AppError): void {
  const attemptsLeft = err.details?.attemptsLeft;
  if (err.code === 'INVALID_ACCESS_TOKEN') {
    request.log.warn({ ip: request.ip, attemptsLeft }, 'invalid access token');
    if (attemptsLeft === 0) request.log.warn({ ip: request.ip, blockedSeconds: BLOCK_MS / 1000 }, 'IP blocked after repeated invalid access tokens');
  } else if (err.code === 'CONSOLE_UNAUTHORIZED' && attemptsLeft !== undefined) {
    request.log.warn({ ip: request.ip, attemptsLeft }, 'console login failed');
    if (attemptsLeft === 0) request.log.warn({ ip: request.ip, blockedSeconds: BLOCK_MS / 1000 }, 'console logins blocked for this IP after repeated failures');
  }
}

export async function buildApp(deps: Deps, options: BuildAppOptions = {}): Promise<ShahnApp> {
  const { config } = deps;
  const limiter = deps.limiter;
  let closing = false;
  let fastCheckId: ReturnType<typeof makeFastCheckId> | undefined;
  let fastSend: ReturnType<typeof makeFastSend> | undefined;
  const trust = trustFunction(config.trustProxy);
  /** Called once for the first request carrying X-Forwarded-For while no proxy is trusted. */
  let onForwardedWithoutTrust: (() => void) | undefined;

  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: { level: config.logLevel } }),
    genReqId: () => newRequestId(),
    requestIdHeader: false,
    // Fastify's own per-request lines are off; config.accessLog adds one line per request instead.
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    trustProxy: trust ?? false,
    requestTimeout: config.requestTimeoutMs,
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 512 },
    clientErrorHandler,
    // Our own node:http server: the hot paths of check-id and send (fast-check-id.ts, fast-send.ts)
    // answer before fastify's router when they can; everything else goes to fastify. A missing Host header is accepted.
    // Headers must arrive within headersTimeoutMs and the whole request within requestTimeoutMs
    // (else 408 and the connection closes); at most maxConnections are open at once.
    serverFactory: (handler, opts) => {
      const refused = new WeakSet<object>();
      const server = createServer(
        { requireHostHeader: false, headersTimeout: config.headersTimeoutMs, requestTimeout: config.requestTimeoutMs, connectionsCheckingInterval: TIMEOUT_CHECK_MS },
        (req, res) => {
          if (refused.has(req.socket)) {
            req.socket.destroy();
            return;
          }
          if (onForwardedWithoutTrust !== undefined && rawHeader(req.rawHeaders, 'x-forwarded-for') !== undefined) onForwardedWithoutTrust();
          if (fastCheckId?.(req, res, () => handler(req, res)) || fastSend?.(req, res)) return;
          handler(req, res);
        },
      );
      // Over the cap, a connection is answered 503 at once and closed: its descriptor is freed
      // without waiting for (or parsing) a request.
      let open = 0;
      const overCap = rawErrorResponse(new AppError('SERVICE_UNAVAILABLE', 'Too many open connections; retry shortly', { retryAfter: 1 }, { 'retry-after': '1' }));
      server.prependListener('connection', (socket: import('node:net').Socket) => {
        if (open >= config.maxConnections) {
          refused.add(socket);
          socket.on('error', () => undefined);
          socket.end(overCap);
          setTimeout(() => socket.destroy(), 1000).unref();
          return;
        }
        open++;
        socket.once('close', () => open--);
      });
      server.on('connect', onConnectRequest);
      // A client that half-closes its side after sending a request (shutdown(SHUT_WR)) still gets its
      // answer, then the connection closes; Node's default drops a request still being answered.
      (server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
      // What fastify sets on the servers it makes itself (keep-alive 72 s, not node's 5 s).
      const o = opts as { keepAliveTimeout?: number; connectionTimeout?: number; maxRequestsPerSocket?: number };
      if (o.keepAliveTimeout !== undefined) server.keepAliveTimeout = o.keepAliveTimeout;
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
    const err = appErrorFrom(error, (part) => (part === 'querystring' ? request.query : part === 'params' ? request.params : part === 'headers' ? request.headers : request.body));
    if (isFault(error, err)) request.log.error({ err: error }, 'unhandled error');
    else logAbuse(request, err);
    return sendError(reply, err);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new AppError('NOT_FOUND', 'Route not found')));

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('x-request-id', request.id);
    if (closing && !request.routeOptions.config.live) throw new AppError('SERVICE_UNAVAILABLE', 'The server is shutting down', { retryAfter: 5, reason: 'shutting_down' }, { 'retry-after': '5' });
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

  // One hook for both: the access line (SHAHN_ACCESS_LOG) and the request histogram (when metrics are served).
  const timed = config.metricsPort !== undefined ? deps.metrics : undefined;
  if (config.accessLog || timed) {
    const accessLog = config.accessLog;
    app.addHook('onResponse', async (request, reply) => {
      if (timed) timed.request(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
      if (accessLog) {
        request.log.info(
          { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100, ip: request.ip },
          'request completed',
        );
      }
    });
  }

  if (!trust) {
    onForwardedWithoutTrust = () => {
      onForwardedWithoutTrust = undefined;
      app.log.warn(
        {},
        'requests carry X-Forwarded-For but SHAHN_TRUST_PROXY is off: every client is seen as the proxy\'s address (one allow-list entry, one brute-force counter). ' +
          'Behind a reverse proxy, set SHAHN_TRUST_PROXY to the number of proxies (1) or their addresses.',
      );
    };
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

  await app.register(healthRoutes, { deps });
  await app.register(coreRoutes, { deps });
  await app.register(accountRoutes, { deps });
  await app.register(webhookRoutes, { deps });
  await app.register(mobileRoutes, { deps });
  await app.register(sandboxRoutes, { deps });
  await app.register(adminRoutes, { deps });
  await app.register(consoleRoutes, { deps });

  // The hot paths share the key cache, guards, limiter, store and logger, and resolve the client
  // address by the same rule as fastify (client-ip.ts).
  if (config.fastPath) {
    const fast = { isClosing: () => closing, accessLog: config.accessLog ? accessLineWriter(app.log) : undefined, metrics: timed, clientIp: makeClientIp(config.trustProxy) };
    fastCheckId = makeFastCheckId(deps, fast);
    fastSend = makeFastSend(deps, { ...fast, log: app.log });
  }

  const shahn = app as unknown as ShahnApp;
  shahn.beginShutdown = () => {
    closing = true;
  };
  shahn.fastPathAnswered = () => (fastCheckId?.stats.answered ?? 0) + (fastSend?.stats.answered ?? 0);
  return shahn;
}

export { errorBody };
