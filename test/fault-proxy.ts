/**
 * A proxy on loopback in front of a real shahn, that misbehaves on demand: drops connections,
 * answers 503 or 429, replies slowly, or forwards a request and then loses the reply.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'drop' } // close the connection without an answer, without forwarding
  | { kind: 'status'; status: 503 | 429 | 500; retryAfter?: number }
  | { kind: 'slow'; ms: number } // forward, but answer after ms
  | { kind: 'lose-reply' } // forward (the server acts), then close the connection without the answer
  | { kind: 'act-then-status'; status: 500 | 502 | 503 }; // forward (the server acts), then answer this error instead

export class FaultProxy {
  private server: Server | undefined;
  /** Faults to apply, in order, to requests matching `match`. */
  readonly plan: { match: (req: IncomingMessage) => boolean; fault: Fault }[] = [];
  readonly seen: { method: string; url: string; fault?: Fault['kind'] }[] = [];

  constructor(private readonly target: string) {}

  inject(match: (req: IncomingMessage) => boolean, ...faults: Fault[]): void {
    for (const fault of faults) this.plan.push({ match, fault });
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const i = this.plan.findIndex((p) => p.match(req));
    const fault = i >= 0 ? this.plan.splice(i, 1)[0]!.fault : undefined;
    this.seen.push({ method: req.method ?? '', url: req.url ?? '', ...(fault ? { fault: fault.kind } : {}) });
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      answerError(res, fault.status, fault.retryAfter);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', this.target);
      const up = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (upRes) => {
        const body: Buffer[] = [];
        upRes.on('data', (c: Buffer) => body.push(c));
        upRes.on('end', () => {
          if (fault?.kind === 'lose-reply') {
            req.socket.destroy();
            return;
          }
          if (fault?.kind === 'act-then-status') {
            // A gateway's 502, or a server that acted and then failed to answer: HTML, no envelope.
            if (fault.status === 502) {
              res.writeHead(502, { 'content-type': 'text/html' });
              res.end('<html><body>502 Bad Gateway</body></html>');
            } else answerError(res, fault.status);
            return;
          }
          const send = () => {
            if (res.destroyed) return;
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            res.end(Buffer.concat(body));
          };
          if (fault?.kind === 'slow') setTimeout(send, fault.ms);
          else send();
        });
      });
      up.on('error', () => req.socket.destroy());
      up.end(Buffer.concat(chunks));
    });
  }
}

function answerError(res: ServerResponse, status: number, retryAfter?: number): void {
  const code = status === 503 ? 'SERVICE_UNAVAILABLE' : status === 429 ? 'RATE_LIMITED' : 'INTERNAL_ERROR';
  const body = JSON.stringify({ success: false, error: { code, message: 'injected', ...(retryAfter !== undefined ? { details: { retryAfter } } : {}) }, requestId: 'req_0_proxy' });
  res.writeHead(status, { 'content-type': 'application/json', ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}) });
  res.end(body);
}
