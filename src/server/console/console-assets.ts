/**
 * The console page and its assets: index.html and console.css from packages/console-web/static,
 * the compiled modules from packages/console-web/dist (built by `npm install`'s prepare step).
 * Served with a strict Content-Security-Policy: scripts, styles and requests from this origin only.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, normalize, sep } from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { AppError } from '@shahn/contract/core';

const require = createRequire(import.meta.url);
const ROOT = dirname(require.resolve('@shahn/console-web/package.json'));
const DIRS = { static: join(ROOT, 'static'), dist: join(ROOT, 'dist') };

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function securityHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', CONSOLE_CSP);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
}

async function sendFile(reply: FastifyReply, base: string, rel: string, cache: string): Promise<FastifyReply> {
  const path = normalize(join(base, rel));
  if (!path.startsWith(base + sep)) throw new AppError('NOT_FOUND', 'Route not found');
  const ext = path.slice(path.lastIndexOf('.'));
  const type = TYPES[ext];
  if (!type) throw new AppError('NOT_FOUND', 'Route not found');
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch {
    throw new AppError('NOT_FOUND', 'Route not found');
  }
  securityHeaders(reply);
  reply.header('cache-control', cache);
  return reply.type(type).send(body);
}

export const serveConsoleAssets: FastifyPluginAsync = async (app) => {
  const page = async (_req: unknown, reply: FastifyReply) => sendFile(reply, DIRS.static, 'index.html', 'no-cache');
  app.get('/console', { schema: { hide: true } }, page);
  app.get('/console/', { schema: { hide: true } }, page);
  app.get<{ Params: { '*': string } }>('/console/static/*', { schema: { hide: true } }, async (request, reply) =>
    sendFile(reply, DIRS.static, request.params['*'], 'no-cache'),
  );
  app.get<{ Params: { '*': string } }>('/console/js/*', { schema: { hide: true } }, async (request, reply) =>
    sendFile(reply, DIRS.dist, request.params['*'], 'no-cache'),
  );
};
