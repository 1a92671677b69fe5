import { newObjectId } from '../lib/ids.js';
import type { AuditRecord } from '../store/store.js';

/** One audit record: who, when, what, why. */
export function auditRecord(now: number, actor: string, action: string, target: string, reason: string, details: Record<string, unknown> = {}): AuditRecord {
  return { id: newObjectId(now), at: now, actor, action, target, reason: reason.slice(0, 1000), details };
}
