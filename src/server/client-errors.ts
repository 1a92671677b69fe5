/**
 * Requests that never reach fastify's router still get the contract's envelope: bytes Node's HTTP
 * parser rejects (malformed request lines, bad headers, header overflow, bad chunking) and
 * `Expect:` values other than 100-continue. Both become 400 ERR_VALIDATION with a requestId.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AppError } from '@shahn/contract';
import { newRequestId } from '../lib/ids.js';
import { errorBody } from './envelope.js';

function parserErrorReason(code: string | undefined): { reason: string; message: string } {
  if (code === 'HPE_HEADER_OVERFLOW') return { reason: 'headers_too_large', message: 'The request headers are too large' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { reason: 'request_timeout', message: 'The request was not received in time' };
  return { reason: 'malformed_request', message: 'The request is not valid HTTP/1.1' };
}

export function clientErrorHandler(err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const requestId = newRequestId();
  const { reason, message } = parserErrorReason(err.code);
  const body = JSON.stringify(errorBody(requestId, new AppError('ERR_VALIDATION', message, { field: '', reason })));
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  // A HEAD request gets the headers only (a client parses no body after them).
  const head = Buffer.isBuffer(err.rawPacket) && err.rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
  socket.end(
    `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${head ? '' : body}`,
  );
}

export function onUnsupportedExpectation(_req: IncomingMessage, res: ServerResponse): void {
  const requestId = newRequestId();
  const body = JSON.stringify(
    errorBody(requestId, new AppError('ERR_VALIDATION', 'headers/expect must be 100-continue or absent', { field: 'expect', reason: 'expectation' })),
  );
  res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-request-id': requestId, connection: 'close' });
  res.end(body);
}
