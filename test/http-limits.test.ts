/**
 * The HTTP server's own limits, over raw sockets on loopback: a request whose body (or headers) never
 * finishes arriving is answered 408 and closed; connections beyond the cap are answered 503 and closed
 * at once; CONNECT gets the envelope. Each answer is the contract's envelope with a requestId.
 *
 * Stores: SQLite only: these are properties of the HTTP listener, the same code on either store; no
 * request here reaches the store.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { makeContext, type TestContext } from './helpers.js';

interface RawAnswer {
  text: string;
  closedAfterMs: number;
}

/** Open a socket, write `chunks`, and read until the server closes (or `limitMs`). */
function rawExchange(port: number, chunks: string[], limitMs: number): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closedAfterMs: Number.POSITIVE_INFINITY });
    }, limitMs);
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
    });
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedAfterMs: Date.now() - started });
    });
  });
}

function parseAnswer(text: string): { status: number; headers: Record<string, string>; body: { success: boolean; error: { code: string; details?: Record<string, unknown> }; requestId: string } } {
  const [head, body] = text.split('\r\n\r\n') as [string, string];
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(body) as never };
}

describe('HTTP limits', () => {
  let ctx: TestContext | undefined;
  let port = 0;
  afterEach(async () => {
    await ctx?.close();
    ctx = undefined;
  });

  async function start(env: Record<string, string>) {
    ctx = await makeContext({ env });
    const url = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    port = Number(new URL(url).port);
  }

  it('a body that never arrives: 408 REQUEST_TIMEOUT and the connection closes after the request timeout', async () => {
    await start({ SHAHN_REQUEST_TIMEOUT_MS: '1500', SHAHN_HEADERS_TIMEOUT_MS: '1000' });
    const head = 'POST /console/api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{';
    const r = await rawExchange(port, [head], 10_000);
    expect(r.closedAfterMs).toBeLessThan(6_000);
    const a = parseAnswer(r.text);
    expect(a.status).toBe(408);
    expect(a.body).toMatchObject({ success: false, error: { code: 'REQUEST_TIMEOUT' } });
    expect(a.headers['x-request-id']).toBe(a.body.requestId);
  });

  it('headers that never finish: 408 after the headers timeout', async () => {
    await start({ SHAHN_REQUEST_TIMEOUT_MS: '5000', SHAHN_HEADERS_TIMEOUT_MS: '1000' });
    const r = await rawExchange(port, ['GET /v3/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '], 10_000);
    expect(r.closedAfterMs).toBeLessThan(4_500);
    expect(parseAnswer(r.text).body.error.code).toBe('REQUEST_TIMEOUT');
  });

  it('past the connection cap: 503 SERVICE_UNAVAILABLE at once and closed; a slot that frees is usable again', async () => {
    await start({ SHAHN_MAX_CONNECTIONS: '5' });
    const held: Socket[] = [];
    for (let i = 0; i < 5; i++) {
      held.push(await new Promise<Socket>((resolve) => {
        const s = connect(port, '127.0.0.1', () => resolve(s));
      }));
    }
    await new Promise((r) => setTimeout(r, 100));
    const over = await rawExchange(port, ['GET /v3/ping HTTP/1.1\r\nHost: x\r\n\r\n'], 5_000);
    expect(over.closedAfterMs).toBeLessThan(2_500);
    const a = parseAnswer(over.text);
    expect(a.status).toBe(503);
    expect(a.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { retryAfter: 1 } });
    expect(a.headers['retry-after']).toBe('1');
    held.pop()!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const ok = await fetch(`http://127.0.0.1:${port}/v3/ping`, { headers: { connection: 'close' } });
    expect(ok.status).toBe(200);
    for (const s of held) s.destroy();
  });

  it('CONNECT is answered 404 in the envelope, not dropped', async () => {
    await start({});
    const r = await rawExchange(port, ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'], 5_000);
    expect(r.closedAfterMs).toBeLessThan(2_000);
    const a = parseAnswer(r.text);
    expect(a.status).toBe(404);
    expect(a.body).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } });
    expect(a.headers['x-request-id']).toBe(a.body.requestId);
  });
});
