/** The contract's patterns and enumerations as plain values (no schema library), for code that needs no schemas. */
export const MSSIDN_PATTERN = '^0[567][0-9]{8}$';
/** 1–128 URL-safe characters; not `.` or `..` (URL clients rewrite those path segments). */
export const REF_PATTERN = '^(?!\\.{1,2}$)[A-Za-z0-9._:@+-]{1,128}$';
export const ID_PATTERN = '^[0-9a-f]{24}$';
export const USERNAME_PATTERN = '^\\+213[0-9]{9}$';

export const TOPUP_STATUSES = ['PENDING', 'HANDLING', 'FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'] as const;
export type TopupStatus = (typeof TOPUP_STATUSES)[number];
export const FINAL_STATUSES: readonly TopupStatus[] = ['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'];

export const KEY_TYPES = ['SANDBOX', 'PRODUCTION'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const KEY_SCOPES = ['READ-WRITE', 'READ-ONLY'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

export const TRANSACTION_TYPES = ['DEPOSIT', 'FLEXY', 'REFUND-FLEXY'] as const;
export type TransactionType = (typeof TRANSACTION_TYPES)[number];
