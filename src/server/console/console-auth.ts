/**
 * Console logins and sessions. A login is an admin (support) or a merchant; passwords are set
 * with the CLI and stored hashed (passwords.ts). A session is a random token in an HttpOnly,
 * SameSite=Strict, Secure cookie; the store keeps only its SHA-256 hash and the session's CSRF token.
 * Failed logins count against the client IP in the store (shared by every API process): 5 within
 * 15 minutes block console logins from that IP for 15 minutes.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError, validationError } from '@shahn/contract/core';
import type { Deps } from '../../domain/deps.js';
import { hashApiKey, newObjectId } from '../../lib/ids.js';
import type { ConsoleSessionRecord } from '../../store/store.js';
import { checkPasswordStrength, hashPassword, verifyPassword } from './passwords.js';
import { auditRecord } from '../../support/audit.js';

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession: ConsoleSessionRecord | null;
  }
}

/** The session of a console API request (set by console-routes.ts's hook). */
export function sessionOf(request: FastifyRequest): ConsoleSessionRecord {
  if (!request.consoleSession) throw new AppError('CONSOLE_UNAUTHORIZED');
  return request.consoleSession;
}

export const SESSION_COOKIE = 'shahn_console';

/** The brute-force guard's key for console logins from an IP (kept apart from API key failures). */
export const loginGuardKey = (ip: string) => `console:${ip}`;

export async function setConsolePassword(
  deps: Pick<Deps, 'store' | 'clock'>,
  options: { role: 'admin' | 'merchant'; login: string; password: string; actor?: string },
): Promise<{ role: 'admin' | 'merchant'; login: string }> {
  const password = checkPasswordStrength(options.password);
  const login = options.login.trim();
  let subjectId: string | undefined;
  if (options.role === 'merchant') {
    subjectId = (await deps.store.accounts.findMerchantByUsername(login))?.id;
    if (!subjectId) throw validationError('body', 'username', 'is not a merchant', login, 'unknown_merchant');
  } else {
    subjectId = (await deps.store.accounts.findAdminByName(login))?.id;
    if (!subjectId) throw validationError('body', 'name', 'is not an admin (create it with `shahn admin create --name …`)', login, 'unknown_admin');
  }
  const existing = await deps.store.console.findConsoleLogin(login);
  if (existing && (existing.role !== options.role || existing.subjectId !== subjectId)) {
    throw validationError('body', 'login', 'is already the console login of someone else', login, 'unique');
  }
  const now = deps.clock.now();
  await deps.store.console.setConsolePassword({
    id: existing?.id ?? newObjectId(now),
    role: options.role,
    login,
    subjectId,
    passwordHash: await hashPassword(password),
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
  }, auditRecord(now, options.actor ?? 'cli', 'console.password', subjectId, '', { role: options.role, login }));
  return { role: options.role, login };
}

export interface LoginResult {
  token: string;
  session: ConsoleSessionRecord;
}

/**
 * Login attempts from one address run one at a time in this process, so each sees the failures
 * recorded before it: parallel guesses cannot all slip in before the 5th failure blocks the address.
 */
const attemptsInFlight = new Map<string, Promise<unknown>>();

function oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = attemptsInFlight.get(key) ?? Promise.resolve();
  const mine = previous.then(fn, fn);
  const settled = mine.catch(() => undefined);
  attemptsInFlight.set(key, settled);
  void settled.then(() => {
    if (attemptsInFlight.get(key) === settled) attemptsInFlight.delete(key);
  });
  return mine;
}

export async function logIn(
  deps: Pick<Deps, 'store' | 'clock' | 'config' | 'bruteForce'>,
  options: { login: string; password: string; ip: string },
): Promise<LoginResult> {
  const guardKey = loginGuardKey(options.ip);
  return oneAtATime(guardKey, async () => {
    const blocked = deps.bruteForce.blockedFor(guardKey);
    if (blocked > 0) {
      throw new AppError('RATE_LIMITED', 'Too many failed logins from this address; wait before trying again', { retryAfter: blocked }, { 'retry-after': String(blocked) });
    }
    const login = await deps.store.console.findConsoleLogin(options.login.trim());
    const ok = await verifyPassword(options.password, login?.passwordHash);
    // A disabled admin fails like a wrong password: the answer never confirms a password.
    const enabled = ok && login !== undefined && (login.role !== 'admin' || (await deps.store.accounts.findAdminById(login.subjectId))?.isEnabled === true);
    if (!enabled || !login) {
      const failure = await deps.bruteForce.recordFailure(guardKey);
      if (failure.blockedFor > 0) {
        throw new AppError('RATE_LIMITED', 'Too many failed logins from this address; wait before trying again', { retryAfter: failure.blockedFor }, { 'retry-after': String(failure.blockedFor) });
      }
      throw new AppError('CONSOLE_UNAUTHORIZED', 'Wrong login or password', { attemptsLeft: failure.attemptsLeft });
    }
    const now = deps.clock.now();
    const token = randomBytes(32).toString('base64url');
    const session = {
      tokenHash: hashApiKey(token),
      csrfToken: randomBytes(24).toString('base64url'),
      createdAt: now,
      expiresAt: now + deps.config.consoleSessionMs,
    };
    await deps.store.console.createConsoleSession({ ...session, loginId: login.id });
    return { token, session: { ...session, login } };
  });
}

export async function findSession(deps: Pick<Deps, 'store' | 'clock'>, token: string | undefined): Promise<ConsoleSessionRecord> {
  if (!token || token.length > 100) throw new AppError('CONSOLE_UNAUTHORIZED');
  const session = await deps.store.console.findConsoleSession(hashApiKey(token), deps.clock.now());
  if (!session) throw new AppError('CONSOLE_UNAUTHORIZED', 'The console session has expired or ended; log in again');
  return session;
}

export function checkCsrf(session: ConsoleSessionRecord, presented: string | undefined): void {
  const a = Buffer.from(presented ?? '');
  const b = Buffer.from(session.csrfToken);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new AppError('CSRF_REJECTED');
}

/** Parse one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}
