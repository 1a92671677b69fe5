import { createHash, randomBytes, randomUUID } from 'node:crypto';

const PROCESS_RANDOM = randomBytes(5).toString('hex');
let counter = randomBytes(3).readUIntBE(0, 3);

/** 24 lowercase hex characters, ObjectId-like: 4 bytes of seconds, 5 random bytes per process, a 3-byte counter. */
export function newObjectId(nowMs: number): string {
  counter = (counter + 1) & 0xffffff;
  const seconds = Math.floor(nowMs / 1000) >>> 0;
  return seconds.toString(16).padStart(8, '0') + PROCESS_RANDOM + counter.toString(16).padStart(6, '0');
}

/** `req_<unix-seconds>_<random>`, as in the contract. */
export function newRequestId(): string {
  const u = randomUUID();
  return `req_${Math.floor(Date.now() / 1000)}_${u.slice(0, 8)}${u.slice(9, 13)}`;
}

let lastMs = 0;
let lastIso = '';
/** The current time as ISO 8601, formatted at most once per millisecond. */
export function nowIso(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** API keys look like the public ones: a UUID. */
export function newApiKey(): string {
  return randomUUID();
}

/** Keys are high-entropy random values, so an unsalted SHA-256 is enough to store them safely. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A short random token (hex). */
export function randomToken(bytes = 4): string {
  return randomBytes(bytes).toString('hex');
}
