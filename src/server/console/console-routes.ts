/**
 * The web console at /console: the page and its assets (console-assets.ts), and its JSON API at
 * /console/api/*, answered in the contract's envelope. Every API request but login needs a session
 * cookie; every state-changing request needs the session's CSRF token in X-CSRF-Token and, when the
 * browser sends one, an Origin equal to the console's own. Merchant pages see only their merchant.
 */
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '@shahn/contract/core';
import type { Deps } from '../../domain/deps.js';
import type { ConsoleSessionRecord } from '../../store/store.js';
import { success } from '../envelope.js';
import { checkCsrf, findSession, logIn, readCookie, SESSION_COOKIE, sessionCookie, sessionOf } from './console-auth.js';
import { serveConsoleAssets } from './console-assets.js';
import { merchantConsoleRoutes } from './merchant-console-routes.js';
import { merchantWebhookRoutes } from './merchant-webhook-routes.js';
import { supportConsoleRoutes } from './support-console-routes.js';

export interface ConsoleRoutesOptions {
  deps: Deps;
}

function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.host;
  } catch {
    return false;
  }
}

function describeSession(s: ConsoleSessionRecord) {
  return { role: s.login.role, login: s.login.login, csrfToken: s.csrfToken, expiresAt: new Date(s.expiresAt).toISOString() };
}

export const consoleRoutes: FastifyPluginAsyncTypebox<ConsoleRoutesOptions> = async (app, { deps }) => {
  app.decorateRequest('consoleSession', null);
  const secure = deps.config.cookieSecure;

  await app.register(serveConsoleAssets);

  await app.register(async (plain) => {
    const api = plain.withTypeProvider<TypeBoxTypeProvider>();
    api.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      reply.header('cache-control', 'no-store');
      const changes = request.method !== 'GET' && request.method !== 'HEAD';
      if (changes && !sameOrigin(request)) throw new AppError('CSRF_REJECTED', 'The request came from another origin');
      // The matched route's pattern, not the raw URL: no query string or encoding can change the role check.
      const path = request.routeOptions.url ?? '';
      if (path === '/console/api/login') return;
      const session = await findSession(deps, readCookie(request.headers.cookie, SESSION_COOKIE));
      if (changes) checkCsrf(session, request.headers['x-csrf-token'] as string | undefined);
      if (path.startsWith('/console/api/support/') && session.login.role !== 'admin') throw new AppError('FORBIDDEN');
      if (path.startsWith('/console/api/merchant/') && session.login.role !== 'merchant') throw new AppError('FORBIDDEN');
      request.consoleSession = session;
    });

    api.post(
      '/console/api/login',
      { schema: { hide: true, body: Type.Object({ login: Type.String({ minLength: 1, maxLength: 100 }), password: Type.String({ minLength: 1, maxLength: 200 }) }) } },
      async (request, reply) => {
        const { token, session } = await logIn(deps, { login: request.body.login, password: request.body.password, ip: request.ip });
        reply.header('set-cookie', sessionCookie(token, Math.floor(deps.config.consoleSessionMs / 1000), secure));
        return success(request, describeSession(session));
      },
    );

    api.post('/console/api/logout', { schema: { hide: true } }, async (request, reply) => {
      await deps.store.console.deleteConsoleSession(sessionOf(request).tokenHash);
      reply.header('set-cookie', sessionCookie('', 0, secure));
      return success(request, { loggedOut: true });
    });

    api.get('/console/api/session', { schema: { hide: true } }, async (request) => success(request, describeSession(sessionOf(request))));

    await api.register(merchantConsoleRoutes, { deps });
    await api.register(merchantWebhookRoutes, { deps });
    await api.register(supportConsoleRoutes, { deps });
  });
};
