/** The console API client: same-origin fetch, the contract's envelope, the session's CSRF token. */
let csrfToken = '';

export function setCsrf(token: string): void {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details: Record<string, unknown> | undefined,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

type Envelope<T> = { success: true; data: T; requestId: string } | { success: false; error: { code: string; message: string; details?: Record<string, unknown> }; requestId: string };

let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

export async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(`/console/api${path}`, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch {
    throw new ApiError('NETWORK', 'The server cannot be reached', 0, undefined, undefined);
  }
  let json: Envelope<T>;
  try {
    json = (await res.json()) as Envelope<T>;
  } catch {
    throw new ApiError('BAD_RESPONSE', `Unexpected answer (HTTP ${res.status})`, res.status, undefined, undefined);
  }
  if (json.success) return json.data;
  if (json.error.code === 'CONSOLE_UNAUTHORIZED' && path !== '/login') onUnauthorized();
  throw new ApiError(json.error.code, json.error.message, res.status, json.error.details, json.requestId);
}

export function qs(params: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}
