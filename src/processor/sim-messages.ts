/**
 * Messages read from a modem pool's SIMs. Each is kept in the audit trail (then the SIM deletes it).
 * A confirmation (from one of the operator's trusted senders, and the operator's SMS pattern
 * matched: a number and an amount) settles an UNKNOWN_ERROR order through the late-answer path when
 * it can only be about that order: the one call through that SIM to that number for that amount in
 * the window before the message was sent. When other calls could be the one confirmed (the same
 * number and amount, another order), nothing is applied and support gets an alert. When that one
 * call is still waiting for its answer, the message stays on the SIM and is read again later. A
 * decision support already made is never changed: only an order still UNKNOWN_ERROR when the answer
 * is recorded takes it.
 */
import { MESSAGES } from '@shahn/contract/core';
import type { Log } from '../lib/log.js';
import type { Clock } from '../lib/clock.js';
import { dzdToCentimes } from '../lib/money.js';
import type { SimMessage } from '../gateways/modem/sim.js';
import type { OrderRecord, Store } from '../store/store.js';
import { auditRecord } from '../support/audit.js';
import { makeAlert, recordedOf } from './order-processor.js';

export type ConfirmationResult = 'no-confirmation' | 'no-order' | 'applied' | 'ambiguous' | 'already-final' | 'keep';

/** How much later than the message a call may have started, for a modem clock and ours that disagree (ms). */
const CLOCK_SKEW_MS = 60_000;

export interface SimMessageDeps {
  store: Store;
  clock: Clock;
  logger: Log;
  /** An alert was written to the outbox (wake the dispatcher). */
  onAlert?: () => void;
}

/** Record a SIM's message and apply the confirmation it carries; resolves once both are durable. */
export async function handleSimMessage(deps: SimMessageDeps, message: SimMessage & { gateway: string }, windowMs: number): Promise<ConfirmationResult> {
  const { store, clock, logger } = deps;
  const now = clock.now();
  const actor = `gateway:${message.gateway}`;
  if (!message.repeat) {
    await store.audit.insertAudit(
      auditRecord(now, actor, 'sim.message', message.sim, message.trustedSender ? 'a message read from the SIM' : 'a message read from the SIM, not from a confirmation sender', {
        sender: message.sender,
        sentAt: message.sentAt,
        text: message.text.slice(0, 1000),
        trustedSender: message.trustedSender,
        confirmation: message.confirmation ?? null,
      }),
    );
  }
  const c = message.confirmation;
  if (!c) return 'no-confirmation';
  // The call it confirms started before the message was sent, within the window (the modem's time stamp; ours when it has none).
  const sentAt = now - (message.sentAgoMs ?? 0);
  const calls = await store.orders.findCallsByChannel({ channel: message.sim, mssidn: c.msisdn, topupAmount: dzdToCentimes(c.amount), since: sentAt - windowMs, until: sentAt + CLOCK_SKEW_MS });
  if (calls.length === 0) {
    logger.info({ sim: message.sim, msisdn: c.msisdn, amount: c.amount }, 'a confirmation SMS matches no call of this SIM');
    return 'no-order';
  }
  const uncertain = calls.filter((o) => o.status === 'UNKNOWN_ERROR');
  if (calls.length > 1) {
    if (uncertain.length > 0 && !message.repeat) await ambiguous(deps, message, calls, uncertain, now);
    return 'ambiguous';
  }
  const order = calls[0]!;
  if (order.status === 'HANDLING') return 'keep';
  if (order.status !== 'UNKNOWN_ERROR') return 'already-final';
  const trace = { channel: message.sim, detail: JSON.stringify({ sim: message.sim, at: new Date(now).toISOString(), sms: { sender: message.sender, sentAt: message.sentAt, text: message.text.slice(0, 500) }, outcome: c.outcome }) };
  const outcome = recordedOf(order, c.outcome === 'FULFILLED' ? { kind: 'FULFILLED', trace } : { kind: 'REFUNDED', refundMessage: c.refundMessage ?? MESSAGES.REFUNDED_AFTER_REVIEW, trace }, now);
  const result = await store.processing.recordOutcome({
    orderId: order.id,
    now,
    outcome,
    decide: (current) =>
      current.status === 'UNKNOWN_ERROR'
        ? { action: 'late', audit: { ...auditRecord(now, actor, 'order.confirmation-sms', order.id, `SIM ${message.sim} received a confirmation: ${c.outcome}`, { sim: message.sim, sender: message.sender, text: message.text.slice(0, 500) }), id: `${order.id}-sms-${now}` } }
        : { action: 'ignore' },
  });
  if (result !== 'late') return 'already-final';
  logger.warn({ orderId: order.id, sim: message.sim, outcome: c.outcome }, `order ${order.id} settled ${c.outcome} by a confirmation SMS`);
  return 'applied';
}

async function ambiguous(deps: SimMessageDeps, message: SimMessage & { gateway: string }, calls: OrderRecord[], uncertain: OrderRecord[], now: number): Promise<void> {
  const reason = `SIM ${message.sim} received a confirmation for ${message.confirmation!.msisdn} (${message.confirmation!.amount} DA) that could be about ${calls.length} calls (${calls.map((o) => `${o.id} ${o.status}`).join(', ')}); support must decide`;
  for (const order of uncertain) {
    const alert = makeAlert(order, now, reason, 'CONFIRMATION_AMBIGUOUS');
    await deps.store.outbox.enqueueWithAudit(alert, auditRecord(now, `gateway:${message.gateway}`, 'order.confirmation-ambiguous', order.id, reason, { sim: message.sim, text: message.text.slice(0, 500) }));
  }
  deps.logger.error({ alert: 'order.confirmation_ambiguous', orders: calls.map((o) => o.id), sim: message.sim }, `ALERT: ${reason}`);
  deps.onAlert?.();
}
