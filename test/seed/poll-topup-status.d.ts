import type { TopupOut } from '@shahn/contract';
export declare const BASE_URL: { value: string };
export declare function pollTopupStatus(topupId: string): Promise<TopupOut>;
