import type { FastifyRequest } from 'fastify';
import { AppError, ErrorEnvelope } from '@shahn/contract';
import type { Deps } from '../../domain/deps.js';
import type { KeyRecord } from '../../store/store.js';

export interface RoutesOptions {
  deps: Deps;
}

/** Every route documents (and serialises) its errors with the one error envelope. */
export const errorResponses = { '4xx': ErrorEnvelope, '5xx': ErrorEnvelope } as const;

export function requireKey(request: FastifyRequest): KeyRecord {
  if (!request.apiKey) throw new AppError('INTERNAL_ERROR');
  return request.apiKey;
}
