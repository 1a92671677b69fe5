import { newObjectId } from '../lib/ids.js';
import type { Deps } from '../domain/deps.js';
import { toPage, toPageRequest } from '../domain/pagination.js';
import type { AuditRecord } from '../store/store.js';

/** One audit record: who, when, what, why. */
export function auditRecord(now: number, actor: string, action: string, target: string, reason: string, details: Record<string, unknown> = {}): AuditRecord {
  return { id: newObjectId(now), at: now, actor, action, target, reason: reason.slice(0, 1000), details };
}

/** An audit record on the wire: its time as ISO 8601. */
export function presentAudit(a: AuditRecord) {
  return { ...a, at: new Date(a.at).toISOString() };
}

/** The audit trail, newest first, optionally about one target. */
export async function listAuditPage(deps: Pick<Deps, 'store'>, options: { page?: number; pageSize?: number; target?: string }) {
  const { req, info } = toPageRequest({ page: options.page, pageSize: options.pageSize });
  const result = await deps.store.audit.listAudit({ ...req, ...(options.target ? { target: options.target } : {}) });
  return toPage(result, info, presentAudit);
}
