/**
 * POST /v3/mobile/send. Checks the plan, the amount and the operator prefix, then records the
 * order in one store transaction (ref uniqueness and, in production, the charge).
 */
import { AppError, validationError } from '@shahn/contract/core';
import type { SendBodyInput, SendDataOut } from '@shahn/contract';
import { newObjectId } from '../lib/ids.js';
import { chargeCentimes, centimesToDzd, dzdToCentimes } from '../lib/money.js';
import type { KeyRecord, OrderRecord } from '../store/store.js';
import type { Deps } from './deps.js';
import { isSandboxTestNumber, SandboxLostReply, sandboxEvents, sandboxOffersFor, sandboxScenarioFor } from './sandbox.js';

export async function sendTopup(
  deps: Pick<Deps, 'store' | 'clock' | 'catalogue' | 'queued' | 'config' | 'metrics'>,
  options: { key: KeyRecord; body: SendBodyInput },
): Promise<SendDataOut> {
  const { key, body } = options;
  const sandbox = key.type === 'SANDBOX';
  const catalogue = await deps.catalogue.get();

  const plan = catalogue.plans.get(body.plan_code);
  if (!plan) throw validationError('body', 'plan_code', 'must be one of the plans of /v3/mobile/plans', body.plan_code, 'unknown_plan');
  if (!plan.isEnabled) throw new AppError('PLAN_DISABLED', undefined, { plan_code: plan.code });

  let amountDzd: number;
  if (plan.kind === 'fixed') {
    amountDzd = plan.amount ?? 0;
  } else {
    if (body.amount === undefined) throw validationError('body', 'amount', `is required for the dynamic plan ${plan.code}`, undefined, 'required');
    const min = plan.minAmount ?? 0;
    const max = plan.maxAmount ?? 0;
    if (body.amount < min) throw validationError('body', 'amount', `must be >= ${min}`, body.amount, 'minimum');
    if (body.amount > max) throw validationError('body', 'amount', `must be <= ${max}`, body.amount, 'maximum');
    amountDzd = body.amount;
  }

  const operator = catalogue.operators.get(plan.operator);
  const prefix = body.MSSIDN.slice(0, 2);
  const prefixRuleApplies = !(sandbox && isSandboxTestNumber(body.MSSIDN));
  if (prefixRuleApplies && operator && !operator.prefixes.includes(prefix)) {
    throw validationError(
      'body',
      'MSSIDN',
      `must be a ${plan.operator} number (starting with ${operator.prefixes.join(' or ')}) for plan ${plan.code}`,
      body.MSSIDN,
      'operator_mismatch',
    );
  }

  const now = deps.clock.now();
  const id = newObjectId(now);
  // A generated ref ends with the order id's last 6 hex digits (its per-process counter), not 6 random
  // ones: the sends of one millisecond never collide in this process (with 24 random bits, 400 sends
  // in one millisecond would refuse one DUPLICATED_REF about once in 200 batches).
  const ref = body.ref ?? `API-${key.username}-${sandbox ? 'test-' : ''}${now}-${id.slice(-6)}`;
  const topupAmount = dzdToCentimes(amountDzd);
  const charge = chargeCentimes(topupAmount, plan.costPpm);
  const scenario = sandbox ? sandboxScenarioFor(body.MSSIDN, plan) : null;
  // A sandbox order is created at its merchant's sandbox time (domain/sandbox-clock.ts).
  const createdAt = sandbox ? now + (await deps.store.sandboxClocks.offset(key.merchantId)) : now;

  const order: OrderRecord = {
    id,
    merchantId: key.merchantId,
    env: key.type,
    ref,
    status: 'PENDING',
    planCode: plan.code,
    mssidn: body.MSSIDN,
    topupAmount,
    charge,
    createdAt,
    updatedAt: createdAt,
    refundMessage: null,
    suggestedOffers: scenario ? sandboxOffersFor(scenario, plan, topupAmount, catalogue.plans.values()) : null,
    followOrderId: null,
    retryOrderId: null,
    sandboxScenario: scenario,
  };

  const result = await deps.store.orders.insertOrder(
    order,
    sandbox ? null : { entryId: newObjectId(now), note: `${plan.code} ${body.MSSIDN} ${amountDzd} DZD` },
    sandbox ? sandboxEvents(order, deps.config.sandbox) : undefined,
  );
  if (!result.ok) {
    if (result.reason === 'DUPLICATED_REF') throw new AppError('DUPLICATED_REF', undefined, { ref, topupId: result.existingId });
    throw new AppError('INSUFFICIENT_BALANCE', undefined, {
      required: centimesToDzd(charge),
      available: centimesToDzd(result.available),
    });
  }
  deps.metrics.transition(key.type, 'PENDING');
  if (!sandbox) deps.queued.notify();
  // 0600000007, the lost reply: the order is recorded and goes on as any order, but the caller is told
  // 500, as when a server fails after its commit. check-ref finds it; the same ref again is DUPLICATED_REF.
  if (scenario === 'LOST_REPLY') throw new SandboxLostReply();
  return { topupId: id, topupRef: ref, newBalance: centimesToDzd(result.balance) };
}
