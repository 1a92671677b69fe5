/**
 * Any error a request can meet, as the contract's AppError: one rule for fastify's error handler and
 * the send hot path (fast-send.ts), so both answer the same error with the same bytes.
 */
import type { FastifyError } from 'fastify';
import { AppError, isAppError } from '@shahn/contract/core';
import { SandboxLostReply } from '../domain/sandbox.js';
import { isStoreUnavailable } from '../store/store.js';
import { ajvToAppError } from './validation.js';

/** The largest request body read (bytes): a larger one is 413 PAYLOAD_TOO_LARGE. */
export const BODY_LIMIT = 16 * 1024;

/** `inputOf(part)`: the request's parsed querystring, params, headers or body, for a validation error's value. */
export function appErrorFrom(err: Partial<FastifyError> & { validation?: unknown; validationContext?: string }, inputOf: (part: string) => unknown): AppError {
  if (isAppError(err)) return err;
  if (isStoreUnavailable(err)) {
    return new AppError('SERVICE_UNAVAILABLE', 'The store is unavailable; retry shortly', { retryAfter: 2 }, { 'retry-after': '2' });
  }
  if (Array.isArray(err.validation)) {
    const part = err.validationContext ?? 'body';
    return ajvToAppError(err.validation, part, inputOf(part));
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

/**
 * Is `error`, answered as `err`, a fault to log at error level? Every 500 is, but the sandbox's
 * lost-reply number, which answers 500 on purpose.
 */
export function isFault(error: unknown, err: AppError): boolean {
  return err.code === 'INTERNAL_ERROR' && !(error instanceof SandboxLostReply);
}
