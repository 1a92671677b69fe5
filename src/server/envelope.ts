/** The contract's envelopes. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '@shahn/contract/core';
import type { ErrorEnvelopeBody } from '@shahn/contract';
import { nowIso } from '../lib/ids.js';

export function success<T>(request: FastifyRequest, data: T) {
  return { success: true as const, data, meta: { timestamp: nowIso() }, requestId: request.id };
}

export function errorBody(requestId: string, err: AppError): ErrorEnvelopeBody {
  const error: ErrorEnvelopeBody['error'] = { code: err.code, message: err.message };
  if (err.details !== undefined) error.details = err.details;
  return { success: false, error, requestId };
}

export function sendError(reply: FastifyReply, err: AppError): FastifyReply {
  if (err.headers) reply.headers(err.headers);
  return reply.code(err.status).send(errorBody(reply.request.id, err));
}
