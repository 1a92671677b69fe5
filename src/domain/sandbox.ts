/**
 * The sandbox, exactly as the contract's section 5. A sandbox order's status is not stored and
 * moved by timers: it is derived from its age at read time, so 100,000 open sandbox orders cost
 * nothing between reads. Support may still resolve one (its stored status then wins).
 */
import type { TopupStatus } from '@shahn/contract';
import { AppError, MESSAGES } from '@shahn/contract/core';
import { WEBHOOK_EVENT_OF_STATUS, type OrderRecord, type PlanRecord, type SandboxScenario, type SuggestedOfferRecord, type WebhookEventType } from '../store/store.js';

import type { SandboxTimeline } from '../lib/sandbox-timeline.js';
import { dzdToCentimes } from '../lib/money.js';


export const TEST_NUMBERS = Object.freeze({
  REFUND: '0600000001',
  SUGGEST: '0600000002',
  UNKNOWN: '0600000003',
  /** UNKNOWN_ERROR at 15 s, FULFILLED at 1 h: a merchant that refunded on UNKNOWN_ERROR lost the money. */
  LATE_FULFILLED: '0600000004',
  /** UNKNOWN_ERROR at 15 s, REFUNDED at 1 h. */
  LATE_REFUNDED: '0600000005',
  /** PENDING for 10 minutes (an operator outage), then HANDLING, then FULFILLED. */
  OUTAGE: '0600000006',
  /** Recorded, then answered 500 INTERNAL_ERROR (the lost reply); then as a normal number. */
  LOST_REPLY: '0600000007',
});

/** The 06000000xx numbers: accepted with any plan in the sandbox. */
export function isSandboxTestNumber(mssidn: string): boolean {
  return /^06000000[0-9]{2}$/.test(mssidn);
}

export function sandboxScenarioFor(mssidn: string, plan: PlanRecord): SandboxScenario {
  if (mssidn === TEST_NUMBERS.REFUND) return 'REFUND';
  if (mssidn === TEST_NUMBERS.SUGGEST) return 'SUGGEST';
  if (mssidn === TEST_NUMBERS.UNKNOWN) return 'UNKNOWN';
  if (mssidn === TEST_NUMBERS.LATE_FULFILLED) return 'LATE_FULFILLED';
  if (mssidn === TEST_NUMBERS.LATE_REFUNDED) return 'LATE_REFUNDED';
  if (mssidn === TEST_NUMBERS.OUTAGE) return 'OUTAGE';
  if (mssidn === TEST_NUMBERS.LOST_REPLY) return 'LOST_REPLY';
  if (plan.isMenu) return 'MENU';
  return 'FULFILLED';
}

/** The 500 a send to 0600000007 gets after its order is recorded (the lost-reply case). */
export class SandboxLostReply extends AppError {
  constructor() {
    super('INTERNAL_ERROR');
  }
}

export interface SandboxView {
  status: TopupStatus;
  refundMessage: string | null;
}

function finalOf(scenario: SandboxScenario, age: number, timeline: SandboxTimeline): SandboxView {
  switch (scenario) {
    case 'FULFILLED':
    case 'OUTAGE':
    case 'LOST_REPLY':
      return { status: 'FULFILLED', refundMessage: null };
    case 'LATE_FULFILLED':
      return age >= timeline.lateAnswerMs ? { status: 'FULFILLED', refundMessage: null } : { status: 'UNKNOWN_ERROR', refundMessage: MESSAGES.UNKNOWN_NOTICE };
    case 'LATE_REFUNDED':
      return age >= timeline.lateAnswerMs
        ? { status: 'REFUNDED', refundMessage: MESSAGES.REFUNDED_AFTER_REVIEW }
        : { status: 'UNKNOWN_ERROR', refundMessage: MESSAGES.UNKNOWN_NOTICE };
    case 'REFUND':
      return { status: 'REFUNDED', refundMessage: MESSAGES.BALANCE_UNAVAILABLE };
    case 'SUGGEST':
    case 'MENU':
      return { status: 'REFUNDED', refundMessage: MESSAGES.OFFER_NOT_ACCEPTED };
    case 'UNKNOWN':
      // Decision (the contract's sandbox): resolves to REFUNDED on its own after unknownResolveMs, and then says
      // it was refunded (the contract's additions): the uncertainty notice is not kept once the outcome is known.
      return age >= timeline.unknownResolveMs
        ? { status: 'REFUNDED', refundMessage: MESSAGES.REFUNDED_AFTER_REVIEW }
        : { status: 'UNKNOWN_ERROR', refundMessage: MESSAGES.UNKNOWN_NOTICE };
  }
}

export function sandboxView(order: OrderRecord, now: number, timeline: SandboxTimeline): SandboxView {
  // A support decision is stored and final.
  if (order.status === 'FULFILLED') return { status: 'FULFILLED', refundMessage: null };
  if (order.status === 'REFUNDED') return { status: 'REFUNDED', refundMessage: order.refundMessage ?? MESSAGES.REFUNDED_AFTER_REVIEW };
  const age = now - order.createdAt;
  const scenario = order.sandboxScenario ?? 'FULFILLED';
  // An operator outage holds the order PENDING, then it is handled as long as any order is.
  const start = scenario === 'OUTAGE' ? timeline.outageMs : timeline.pendingMs;
  if (age < start) return { status: 'PENDING', refundMessage: null };
  if (age < start + (timeline.finalMs - timeline.pendingMs)) return { status: 'HANDLING', refundMessage: null };
  return finalOf(scenario, age, timeline);
}

/** The ages (ms) at which a sandbox order of this scenario may change its derived status. */
export function sandboxChangeAges(scenario: SandboxScenario, timeline: SandboxTimeline): number[] {
  const handled = timeline.finalMs - timeline.pendingMs;
  switch (scenario) {
    case 'OUTAGE':
      return [timeline.outageMs, timeline.outageMs + handled];
    case 'LATE_FULFILLED':
    case 'LATE_REFUNDED':
      return [timeline.pendingMs, timeline.finalMs, timeline.lateAnswerMs];
    case 'UNKNOWN':
      return [timeline.pendingMs, timeline.finalMs, timeline.unknownResolveMs];
    default:
      return [timeline.pendingMs, timeline.finalMs];
  }
}

/** Offers a sandbox order will carry once it is REFUNDED (stored at send time). */
export function sandboxOffersFor(
  scenario: SandboxScenario,
  plan: PlanRecord,
  amountCentimes: number,
  plans: Iterable<PlanRecord>,
): SuggestedOfferRecord[] | null {
  if (scenario === 'SUGGEST') {
    return [{ typename: MESSAGES.FACTURE_TYPENAME, plan_code: 'FACTURE_DJEZZY', amount: amountCentimes }];
  }
  if (scenario === 'MENU') {
    // The operator's menu for this number: its enabled, non-menu plans.
    const offers: SuggestedOfferRecord[] = [];
    for (const p of plans) {
      if (p.operator !== plan.operator || p.isMenu || !p.isEnabled) continue;
      const amount = p.kind === 'fixed' ? dzdToCentimes(p.amount ?? 0) : amountCentimes;
      offers.push({ typename: p.name, plan_code: p.code, amount });
    }
    return offers.length > 0 ? offers : null;
  }
  return null;
}

/**
 * The webhook events of a sandbox order: one at each moment its derived status changes (HANDLING,
 * its final status, and for an UNKNOWN_ERROR the REFUNDED it resolves to), dated then.
 */
export function sandboxEvents(order: OrderRecord, timeline: SandboxTimeline): { at: number; type: WebhookEventType }[] {
  const out: { at: number; type: WebhookEventType }[] = [];
  let last: string = 'PENDING';
  for (const age of sandboxChangeAges(order.sandboxScenario ?? 'FULFILLED', timeline)) {
    const status = sandboxView(order, order.createdAt + age, timeline).status;
    const type = WEBHOOK_EVENT_OF_STATUS[status];
    if (status !== last && type) out.push({ at: order.createdAt + age, type });
    last = status;
  }
  return out;
}
