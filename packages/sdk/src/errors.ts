/**
 * Errors, keyed by the contract's codes (after openai-node's src/core/error.ts). Every API error
 * has `code`, `status`, `requestId` and `details`; timeouts and connection failures have their own
 * classes (they have no status: the server's answer never arrived).
 */

export class ShahnError extends Error {
  override readonly name: string = 'ShahnError';
}

export class APIError extends ShahnError {
  override readonly name: string = 'APIError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
    readonly details: Record<string, unknown> | undefined,
  ) {
    super(message);
  }
}

/** 400 ERR_VALIDATION: fix the request; do not retry it unchanged. */
export class ValidationError extends APIError {
  override readonly name = 'ValidationError';
}
/** 401 MISSING_ACCESS_TOKEN */
export class MissingAccessTokenError extends APIError {
  override readonly name = 'MissingAccessTokenError';
}
/** 401 INVALID_ACCESS_TOKEN: `details.attemptsLeft` before the IP is blocked. */
export class InvalidAccessTokenError extends APIError {
  override readonly name = 'InvalidAccessTokenError';
}
/** 403 IP_BLOCKED: `details.retryAfter` seconds. */
export class IpBlockedError extends APIError {
  override readonly name = 'IpBlockedError';
}
/** 403 ACCESS_TOKEN_DISABLED */
export class AccessTokenDisabledError extends APIError {
  override readonly name = 'AccessTokenDisabledError';
}
/** 403 IP_NOT_ALLOWED: `details.ip`. */
export class IpNotAllowedError extends APIError {
  override readonly name = 'IpNotAllowedError';
}
/** 403 READ_ONLY_KEY */
export class ReadOnlyKeyError extends APIError {
  override readonly name = 'ReadOnlyKeyError';
}
/** 403 SANDBOX_ONLY: the sandbox clock with a PRODUCTION key (shahn's extension). */
export class SandboxOnlyError extends APIError {
  override readonly name = 'SandboxOnlyError';
}
/** 403 INSUFFICIENT_BALANCE: `details.required`, `details.available`. Do not retry until funds are added. */
export class InsufficientBalanceError extends APIError {
  override readonly name = 'InsufficientBalanceError';
}
/** 403 DUPLICATED_REF: the order exists; `details.topupId` names it. */
export class DuplicatedRefError extends APIError {
  override readonly name = 'DuplicatedRefError';
}
/** 403 PLAN_DISABLED */
export class PlanDisabledError extends APIError {
  override readonly name = 'PlanDisabledError';
}
/** 404 NOT_FOUND */
export class NotFoundError extends APIError {
  override readonly name = 'NotFoundError';
}
/** 413 PAYLOAD_TOO_LARGE */
export class PayloadTooLargeError extends APIError {
  override readonly name = 'PayloadTooLargeError';
}
/** 429 RATE_LIMITED: `retryAfterSeconds` from the Retry-After header. */
export class RateLimitedError extends APIError {
  override readonly name = 'RateLimitedError';
}
/** 500 INTERNAL_ERROR: after a send, do not refund the customer until support has looked. */
export class InternalServerError extends APIError {
  override readonly name = 'InternalServerError';
}
/** 503 SERVICE_UNAVAILABLE */
export class ServiceUnavailableError extends APIError {
  override readonly name = 'ServiceUnavailableError';
}

/** The request could not reach the server, or its answer was lost (connection refused, reset, DNS). */
export class ConnectionError extends ShahnError {
  override readonly name: string = 'ConnectionError';
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** No answer within `timeoutMs`. For a send, the top-up may or may not exist. */
export class TimeoutError extends ConnectionError {
  override readonly name = 'TimeoutError';
}

/** waitForFinal gave up before a final status. */
export class WaitTimeoutError extends ShahnError {
  override readonly name = 'WaitTimeoutError';
  constructor(
    readonly topupId: string,
    readonly lastStatus: string | undefined,
    attempts: number,
  ) {
    super(`top-up ${topupId} not final after ${attempts} checks (last status ${lastStatus ?? 'unknown'})`);
  }
}

const BY_CODE: Record<string, typeof APIError> = {
  ERR_VALIDATION: ValidationError,
  MISSING_ACCESS_TOKEN: MissingAccessTokenError,
  INVALID_ACCESS_TOKEN: InvalidAccessTokenError,
  ERR_AUTH: InvalidAccessTokenError,
  IP_BLOCKED: IpBlockedError,
  ACCESS_TOKEN_DISABLED: AccessTokenDisabledError,
  IP_NOT_ALLOWED: IpNotAllowedError,
  READ_ONLY_KEY: ReadOnlyKeyError,
  SANDBOX_ONLY: SandboxOnlyError,
  INSUFFICIENT_BALANCE: InsufficientBalanceError,
  NO_BALANCE: InsufficientBalanceError,
  DUPLICATED_REF: DuplicatedRefError,
  PLAN_DISABLED: PlanDisabledError,
  NOT_FOUND: NotFoundError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  RATE_LIMITED: RateLimitedError,
  INTERNAL_ERROR: InternalServerError,
  SERVICE_UNAVAILABLE: ServiceUnavailableError,
};

const BY_STATUS: Record<number, typeof APIError> = {
  400: ValidationError,
  404: NotFoundError,
  413: PayloadTooLargeError,
  429: RateLimitedError,
  500: InternalServerError,
  503: ServiceUnavailableError,
};

/** The error class for an answer: by the contract's code, else by HTTP status. */
export function makeAPIError(
  status: number,
  code: string | undefined,
  message: string | undefined,
  requestId: string | undefined,
  details: Record<string, unknown> | undefined,
): APIError {
  const Cls = (code && BY_CODE[code]) || BY_STATUS[status] || APIError;
  return new Cls(status, code ?? `HTTP_${status}`, message ?? `HTTP ${status}`, requestId, details);
}

/**
 * After a send failed this way, may the top-up exist? Yes for a lost or cut-off reply, any 5xx, and an
 * answer without a contract code (not the API's envelope: a proxy's page). No for a contract 4xx:
 * the server refused before recording anything.
 */
export function sendMayHaveActed(err: unknown): boolean {
  if (err instanceof ConnectionError) return true;
  if (!(err instanceof APIError)) return false;
  return err.status >= 500 || err.code.startsWith('HTTP_');
}
