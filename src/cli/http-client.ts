/**
 * The HTTP side of the commands that talk to a running shahn as a merchant would (`shahn topup …`,
 * `shahn webhooks …`): where the server is, and one call with the key, unwrapped from the envelope.
 */
import { CliHttpError } from './cli-errors.js';

/** Every such command takes its key and, optionally, where the server is. */
export interface ServerOptions {
  key: string;
  url?: string;
}

/** The server: --url, else SHAHN_URL, else this machine on $PORT (3000). No trailing slash. */
export function baseUrl(opts: { url?: string }): string {
  const fromEnv = process.env.SHAHN_URL;
  const port = process.env.PORT ?? '3000';
  return (opts.url ?? fromEnv ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
}

/**
 * One request with the key; the envelope's `data`, or a CliHttpError saying the contract's error
 * code and message (and details, requestId) or why the server could not be reached.
 */
export async function call<T>(url: string, key: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method ?? 'GET',
      headers: { 'X-Access-Token': key, ...(init.body ? { 'Content-Type': 'application/json' } : {}) },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new CliHttpError(`cannot reach ${url}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let body: { success?: boolean; data?: T; error?: { code: string; message: string; details?: unknown }; requestId?: string };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new CliHttpError(`${url} answered HTTP ${res.status} with a body that is not JSON`);
  }
  if (!body.success || body.data === undefined) {
    const e = body.error;
    throw new CliHttpError(
      `${e?.code ?? `HTTP ${res.status}`}: ${e?.message ?? 'request failed'}${e?.details ? ` ${JSON.stringify(e.details)}` : ''} (requestId ${body.requestId ?? '?'})`,
    );
  }
  return body.data;
}
