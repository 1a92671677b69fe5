/**
 * The send hot path: `POST /v3/mobile/send` for the common request (a JSON body with its length
 * given, a cached and usable key with the write scope, within the rate limit), answered straight from
 * the node:http request with the bytes the fastify route sends. It does what the route does, with
 * the same pieces: the body parsed as fastify's JSON parser does (secure-json-parse, prototype
 * poisoning refused), validated by the route's own compiled schema, the order recorded by
 * domain/send-topup.ts, the answer serialized by the route's response schemas, and every error turned
 * into its answer by the error handler's own rule (app-errors.ts).
 *
 * What it does not take goes to fastify before a byte of the body is read: another content type, a
 * chunked (no Content-Length) or empty body, one over the body limit, a query string, a key that is not cached, usable
 * and writable, a rate-limited key, shutting down. test/fast-path.test.ts compares both paths byte
 * for byte, for a recorded order and for every error a send can get.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import fastJsonStringify from 'fast-json-stringify';
import type { FastifyBaseLogger } from 'fastify';
import secureJson from 'secure-json-parse';
import { ErrorEnvelope, SendBody, SendData, Success, type SendBodyInput } from '@shahn/contract';
import type { AppError } from '@shahn/contract/core';
import type { Deps } from '../domain/deps.js';
import { sendTopup } from '../domain/send-topup.js';
import { newRequestId, nowIso } from '../lib/ids.js';
import { appErrorFrom, BODY_LIMIT, isFault } from './app-errors.js';
import { errorBody } from './envelope.js';
import { admit, makeAnswer, rawHeader, type Admitted, type FastPathOptions } from './fast-path.js';
import { validatorCompiler } from './validation.js';

const PATH = '/v3/mobile/send';
/** The route's declared body content types this path reads; any other goes to fastify (which may refuse it). */
const JSON_TYPES = new Set(['application/json', 'application/json; charset=utf-8']);
/** fastify's JSON parser settings (its defaults: onProtoPoisoning and onConstructorPoisoning 'error'). */
const PARSE = { protoAction: 'error', constructorAction: 'error' } as const;
const LENGTH = /^[1-9][0-9]{0,5}$/;
/**
 * What fastify's JSON parser fails with on a body it cannot parse (app-errors.ts answers it). fastify
 * then closes the connection (the client may be sending more than it declared), and so does this path.
 */
const INVALID_JSON = { code: 'FST_ERR_CTP_INVALID_JSON_BODY' };
const CLOSE = Object.freeze({ connection: 'close' });

export interface FastSendOptions extends FastPathOptions {
  /** The app's logger: a fault is logged as fastify's error handler logs it (with the request id). */
  log: FastifyBaseLogger;
}

export function makeFastSend(deps: Deps, options: FastSendOptions) {
  const validate = validatorCompiler({ schema: SendBody, method: 'POST', url: PATH, httpPart: 'body' }) as ((body: unknown) => boolean) & { errors?: unknown[] | null };
  const success = fastJsonStringify(Success(SendData) as object);
  const failure = fastJsonStringify(ErrorEnvelope as object);
  const write = makeAnswer(options, PATH, 'POST');
  const stats = { answered: 0 };

  /** `headers`: instead of the error's own (a body that cannot be parsed closes the connection, as fastify does). */
  const fail = (req: IncomingMessage, res: ServerResponse, requestId: string, at: Admitted, error: unknown, body: unknown, headers?: Readonly<Record<string, string>>) => {
    const err: AppError = appErrorFrom(error as Parameters<typeof appErrorFrom>[0], () => body);
    if (isFault(error, err)) options.log.child({ requestId }).error({ err: error }, 'unhandled error');
    write(req, res, err.status, requestId, failure(errorBody(requestId, err)), at, headers ?? err.headers);
  };

  const run = (req: IncomingMessage, res: ServerResponse, at: Admitted, text: string) => {
    const requestId = newRequestId();
    let body: unknown;
    try {
      body = secureJson.parse(text, undefined, PARSE);
    } catch {
      fail(req, res, requestId, at, INVALID_JSON, undefined, CLOSE);
      return;
    }
    if (!validate(body)) {
      fail(req, res, requestId, at, { validation: validate.errors ?? [], validationContext: 'body' }, body);
      return;
    }
    sendTopup(deps, { key: at.key, body: body as SendBodyInput }).then(
      (data) => write(req, res, 200, requestId, success({ success: true, data, meta: { timestamp: nowIso() }, requestId }), at),
      (error: unknown) => fail(req, res, requestId, at, error, body),
    );
  };

  /** true when this handler took the request; false to let fastify have it (nothing of it read yet). */
  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'POST' || req.url !== PATH || options.isClosing()) return false;
    const raw = req.rawHeaders;
    const type = rawHeader(raw, 'content-type');
    if (typeof type !== 'string' || !JSON_TYPES.has(type.toLowerCase())) return false;
    // node's parser refuses a request with both Content-Length and Transfer-Encoding (400), so a
    // Content-Length here frames the whole body.
    const length = rawHeader(raw, 'content-length');
    if (typeof length !== 'string' || !LENGTH.test(length) || Number(length) > BODY_LIMIT) return false;
    const at = admit(deps, options, req, 'write');
    if (!at) return false;
    stats.answered++;
    // The body as fastify's parser reads it: the whole of it, then decoded as UTF-8 at once (so a
    // character split across two chunks stays whole). A client that goes away before the end gets no
    // answer, as with fastify (whose token is also spent by then).
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => undefined);
    req.on('end', () => run(req, res, at, chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    return true;
  };
  return Object.assign(handle, { stats });
}
