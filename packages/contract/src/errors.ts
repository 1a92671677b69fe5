/**
 * One registry of stable error codes (after fastify's lib/errors.js): each code has its HTTP status,
 * a default message and how a caller fixes it. Every error a client sees comes from this table.
 */

export const ERROR_CODES = {
  ERR_VALIDATION: {
    status: 400,
    message: 'The request is not valid',
    fix: 'Read error.message and error.details.field; correct the request. Do not retry unchanged.',
  },
  MISSING_ACCESS_TOKEN: {
    status: 401,
    message: 'Access token is required',
    fix: 'Send your key in the X-Access-Token header (not Authorization).',
  },
  INVALID_ACCESS_TOKEN: {
    status: 401,
    message: 'The provided access token is invalid',
    fix: 'Check the key. details.attemptsLeft says how many more failures this IP may make before it is blocked.',
  },
  IP_BLOCKED: {
    status: 403,
    message: 'Your IP has been temporarily blocked due to too many invalid attempts',
    fix: 'Wait details.retryAfter seconds, then use a valid key.',
  },
  ACCESS_TOKEN_DISABLED: {
    status: 403,
    message: 'This access token is disabled',
    fix: 'Enable the key or use another one.',
  },
  IP_NOT_ALLOWED: {
    status: 403,
    message: 'Your IP is not allowed to use this access token',
    fix: "Add details.ip to the key's allowed IPs, or call from an allowed address.",
  },
  READ_ONLY_KEY: {
    status: 403,
    message: 'This access token is read-only',
    fix: 'Use a READ-WRITE key for write endpoints.',
  },
  SANDBOX_ONLY: {
    status: 403,
    message: 'This endpoint takes a SANDBOX key',
    fix: 'The sandbox clock moves sandbox orders only: call it with a SANDBOX key. Production time cannot be moved.',
  },
  INSUFFICIENT_BALANCE: {
    status: 403,
    message: 'Your balance is insufficient for this operation',
    fix: 'Do not retry until funds are added (details.required vs details.available).',
  },
  DUPLICATED_REF: {
    status: 403,
    message: 'This reference ID is already in use',
    fix: 'The order exists already: check it with check-ref (or details.topupId) instead of sending again.',
  },
  PLAN_DISABLED: {
    status: 403,
    message: 'This plan is currently disabled',
    fix: 'Choose another plan from /v3/mobile/plans, or retry later.',
  },
  NOT_FOUND: {
    status: 404,
    message: 'Not found',
    fix: 'Check the id, ref or path. Orders of other accounts and of the other environment are not visible.',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    message: 'Request body is too large',
    fix: 'Bodies are limited to 16 KiB.',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    message: 'The request was not received in time',
    fix: 'Send the headers and the whole body promptly (within SHAHN_REQUEST_TIMEOUT_MS, 30 s by default); nothing was done with this request, so it is safe to send again.',
  },
  RATE_LIMITED: {
    status: 429,
    message: 'Too many requests',
    fix: 'Wait Retry-After seconds (also details.retryAfter) before the next request with this key.',
  },
  ADMIN_UNAUTHORIZED: {
    status: 401,
    message: 'Admin credentials are required',
    fix: 'Admin and support endpoints take `Authorization: Bearer <admin token>` (create one with `shahn admin create`). Merchant keys never work here.',
  },
  CONSOLE_UNAUTHORIZED: {
    status: 401,
    message: 'Log in to the console first',
    fix: 'The console session is missing, expired or ended; log in again at /console.',
  },
  CSRF_REJECTED: {
    status: 403,
    message: 'The request did not carry the session\'s CSRF token',
    fix: 'Console changes need the X-CSRF-Token header from GET /console/api/session, sent from the console\'s own origin.',
  },
  FORBIDDEN: {
    status: 403,
    message: 'This login may not do that',
    fix: 'Support pages need a support login; merchant pages need a merchant login.',
  },
  CONFLICT: {
    status: 409,
    message: 'The resource changed; the action does not apply any more',
    fix: 'Reload it: someone else (or the processor) acted first. details.status says where it is now.',
  },
  INTERNAL_ERROR: {
    status: 500,
    message: 'Internal server error',
    fix: 'Contact support with the requestId. After a send, do not refund your user until it is investigated.',
  },
  SERVICE_UNAVAILABLE: {
    status: 503,
    message: 'Service temporarily unavailable',
    fix: 'Retry after details.retryAfter seconds.',
  },
} as const satisfies Record<string, { status: number; message: string; fix: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export type ErrorDetails = Record<string, unknown>;

/** The one error type the domain throws. The error handler turns it into the contract's envelope. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;
  /** Extra response headers (Retry-After). */
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message?: string, details?: ErrorDetails, headers?: Record<string, string>) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = details;
    this.headers = headers;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** A validation error in the Ajv style: `body/MSSIDN must match pattern "..."`. */
export function validationError(
  part: 'body' | 'querystring' | 'params' | 'headers',
  field: string,
  text: string,
  value?: unknown,
  reason?: string,
): AppError {
  const details: ErrorDetails = { field };
  if (value !== undefined) details.value = clipValue(value);
  if (reason !== undefined) details.reason = reason;
  return new AppError('ERR_VALIDATION', `${part}${field ? `/${field}` : ''} ${text}`, details);
}

/** Values echoed in error details are primitives, clipped so that a huge input is not echoed back. */
export function clipValue(value: unknown): unknown {
  if (typeof value === 'string') return value.length > 256 ? `${value.slice(0, 256)}…` : value;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (Array.isArray(value)) return '[array]';
  if (typeof value === 'object') return '[object]';
  return String(value);
}
