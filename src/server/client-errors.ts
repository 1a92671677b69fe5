/**
 * Answers written straight to the socket, for requests that never reach fastify's router, all in
 * the contract's envelope with a requestId:
 * - bytes Node's HTTP parser rejects (malformed request lines, bad headers, header overflow, bad
 *   chunking): 400 ERR_VALIDATION;
 * - a request whose headers or body did not arrive within the request timeouts: 408 REQUEST_TIMEOUT;
 * - `Expect:` values other than 100-continue: 400 ERR_VALIDATION;
 * - `CONNECT` (a proxy tunnel request; Node hands it over as a raw socket): 404 NOT_FOUND;
 * - a connection over the connection cap: 503 SERVICE_UNAVAILABLE.
 * Each closes the connection.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError } from '@shahn/contract/core';
import { newRequestId } from '../lib/ids.js';
import { errorBody } from './envelope.js';

function parserError(code: string | undefined): AppError {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new AppError('REQUEST_TIMEOUT');
  if (code === 'HPE_HEADER_OVERFLOW') return new AppError('ERR_VALIDATION', 'The request headers are too large', { field: '', reason: 'headers_too_large' });
  return new AppError('ERR_VALIDATION', 'The request is not valid HTTP/1.1', { field: '', reason: 'malformed_request' });
}

/** An error answer as raw HTTP/1.1 bytes, closing the connection; `head` leaves the body out (a HEAD request). */
export function rawErrorResponse(err: AppError, head = false): string {
  const requestId = newRequestId();
  const body = JSON.stringify(errorBody(requestId, err));
  const extra = Object.entries(err.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return (
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\n${extra}Connection: close\r\n\r\n${head ? '' : body}`
  );
}

export function clientErrorHandler(err: Error & { code?: string; rawPacket?: unknown }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  // A HEAD request gets the headers only (a client parses no body after them).
  const head = Buffer.isBuffer(err.rawPacket) && err.rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
  socket.end(rawErrorResponse(parserError(err.code), head));
}

/** CONNECT asks for a tunnel; shahn is no proxy. */
export function onConnectRequest(_req: IncomingMessage, socket: Duplex): void {
  if (socket.destroyed) return;
  socket.on('error', () => undefined);
  socket.end(rawErrorResponse(new AppError('NOT_FOUND', 'Route not found', { reason: 'method' })));
}

export function onUnsupportedExpectation(_req: IncomingMessage, res: ServerResponse): void {
  const requestId = newRequestId();
  const body = JSON.stringify(
    errorBody(requestId, new AppError('ERR_VALIDATION', 'headers/expect must be 100-continue or absent', { field: 'expect', reason: 'expectation' })),
  );
  res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-request-id': requestId, connection: 'close' });
  res.end(body);
}
