/**
 * The v3 mobile contract, defined once. These schemas validate requests, type the code
 * (Static<...>), serialise responses and produce the OpenAPI document.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { ERROR_CODES } from './errors.js';

import { ID_PATTERN, KEY_SCOPES, KEY_TYPES, MSSIDN_PATTERN, REF_PATTERN, TOPUP_STATUSES, TRANSACTION_TYPES } from './constants.js';

export * from './constants.js';

const Timestamp = Type.String({ description: 'ISO 8601 UTC with milliseconds', examples: ['2025-10-29T00:35:59.378Z'] });
const Money = Type.Number({ description: 'DZD, at most two decimals' });

// ---------- envelope ----------

export const Meta = Type.Object({ timestamp: Timestamp });

export function Success<T extends TSchema>(data: T) {
  return Type.Object({
    success: Type.Literal(true),
    data,
    meta: Meta,
    requestId: Type.String({ examples: ['req_1730160975_abc123'] }),
  });
}

export const ErrorEnvelope = Type.Object(
  {
    success: Type.Literal(false),
    error: Type.Object({
      code: Type.Enum(Object.keys(ERROR_CODES)),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
    requestId: Type.String(),
  },
  { description: 'Every error, with a stable code (see the error table)' },
);
export type ErrorEnvelopeBody = Static<typeof ErrorEnvelope>;

// ---------- pagination ----------

export const PageQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
  pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'ISO 8601; with `to`, inclusive' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'ISO 8601; with `from`, inclusive' })),
});
export type PageQueryInput = Static<typeof PageQuery>;

export const Pagination = Type.Object({
  page: Type.Integer(),
  pageSize: Type.Integer(),
  totalPages: Type.Integer(),
  totalResults: Type.Integer(),
});

export function Page<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), pagination: Pagination });
}

// ---------- core ----------

const UpDown = Type.Enum(['up', 'down']);
export const PingData = Type.Object({
  api: Type.Enum(['ok', 'error']),
  operators: Type.Object({ mobilis: UpDown, djezzy: UpDown, ooredoo: UpDown, mobilisFixedPlans: UpDown }),
});
export type PingDataOut = Static<typeof PingData>;

export const ValidateData = Type.Object({
  username: Type.String({ examples: ['+213665983439'] }),
  apiKey: Type.Object({
    key: Type.String(),
    isEnabled: Type.Boolean(),
    type: Type.Enum([...KEY_TYPES]),
    allowedips: Type.Array(Type.String()),
    scope: Type.Enum([...KEY_SCOPES]),
  }),
});
export type ValidateDataOut = Static<typeof ValidateData>;

// ---------- account ----------

export const BalanceData = Type.Object({ balance: Money, currency: Type.Literal('DZD') });
export type BalanceDataOut = Static<typeof BalanceData>;

export const Transaction = Type.Object({
  _id: Type.String(),
  type: Type.Enum([...TRANSACTION_TYPES]),
  operation: Type.Enum(['INCREMENT', 'DECREMENT']),
  amount: Money,
  oldBalance: Money,
  newBalance: Money,
  objid: Type.String(),
  note: Type.String(),
  time: Timestamp,
});
export type TransactionOut = Static<typeof Transaction>;

// ---------- mobile ----------

export const DynamicPlan = Type.Object({
  code: Type.String(),
  name: Type.String(),
  operator: Type.String(),
  cost: Type.Optional(Type.Number()),
  isEnabled: Type.Boolean(),
  min_amount: Type.Integer(),
  max_amount: Type.Integer(),
});
export const FixedPlan = Type.Object({
  code: Type.String(),
  name: Type.String(),
  operator: Type.String(),
  cost: Type.Optional(Type.Number()),
  isEnabled: Type.Boolean(),
  amount: Type.Integer(),
});
export const PlansData = Type.Object({ dynamicPlans: Type.Array(DynamicPlan), fixedPlans: Type.Array(FixedPlan) });
export type PlansDataOut = Static<typeof PlansData>;

export const SendBody = Type.Object({
  plan_code: Type.String({ minLength: 1, maxLength: 64 }),
  MSSIDN: Type.String({ pattern: MSSIDN_PATTERN }),
  amount: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000 })),
  ref: Type.Optional(Type.String({ pattern: REF_PATTERN })),
});
export type SendBodyInput = Static<typeof SendBody>;

/** The sandbox clock of the calling merchant (SANDBOX keys only): its time and how far ahead of real time it is. */
export const SandboxClock = Type.Object({
  now: Timestamp,
  offsetSeconds: Type.Integer({ minimum: 0, description: 'how far the sandbox is ahead of real time' }),
});
export type SandboxClockOut = Static<typeof SandboxClock>;

/** Move the sandbox clock forward: 1 s to 30 days at a time, never backwards. */
export const SandboxAdvanceBody = Type.Object({
  seconds: Type.Integer({ minimum: 1, maximum: 30 * 86_400 }),
});
export type SandboxAdvanceInput = Static<typeof SandboxAdvanceBody>;

export const SendData = Type.Object({
  topupId: Type.String(),
  topupRef: Type.String(),
  newBalance: Type.Number({ description: 'DZD: the balance after this send\'s charge (in the sandbox, the unchanged balance)' }),
});
export type SendDataOut = Static<typeof SendData>;

export const SuggestedOffer = Type.Object({ typename: Type.String(), plan_code: Type.String(), amount: Money });
export type SuggestedOfferOut = Static<typeof SuggestedOffer>;

export const Topup = Type.Object({
  _id: Type.String(),
  ref: Type.String(),
  status: Type.Enum([...TOPUP_STATUSES]),
  plan_code: Type.String(),
  MSSIDN: Type.String(),
  topup_amount: Money,
  balance_amount: Money,
  created_at: Timestamp,
  refund_message: Type.Optional(Type.String()),
  suggested_offers: Type.Optional(Type.Array(SuggestedOffer)),
  follow_orderid: Type.Optional(Type.String()),
  retry_orderid: Type.Optional(Type.String()),
});
export type TopupOut = Static<typeof Topup>;

export const IdParams = Type.Object({ id: Type.String({ pattern: ID_PATTERN }) });
export const RefParams = Type.Object({ ref: Type.String({ pattern: REF_PATTERN }) });
