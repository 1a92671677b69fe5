import type { TopupOut } from '../../src/contract/schemas.js';
export declare const BASE_URL: { value: string };
export declare function pollTopupStatus(topupId: string): Promise<TopupOut>;
