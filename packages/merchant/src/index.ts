export { SyncKit, type Hooks, type SendInput, type SyncKitOptions, type Clock } from './sync-kit.js';
export { openSqliteKitStore } from './sqlite-kit-store.js';
export { openPostgresKitStore } from './postgres-kit-store.js';
export { DEFAULT_SCHEDULE, nextCheckAt, type Schedule } from './schedule.js';
export type { KitEvent, KitOrder, KitStatus, KitStore, StatusUpdate, Transition } from './store.js';
