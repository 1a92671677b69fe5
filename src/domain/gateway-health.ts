/** What /v3/ping reports per operator. The order processor's gateways implement it (issue 3). */
import type { OperatorRecord } from '../store/store.js';

export type HealthKey = OperatorRecord['healthKey'];

export interface GatewayHealth {
  isUp(healthKey: HealthKey): boolean;
}

/** Health as set by hand (the sandbox and tests); every operator up unless marked down. */
export class StaticGatewayHealth implements GatewayHealth {
  private readonly down = new Set<HealthKey>();
  isUp(healthKey: HealthKey): boolean {
    return !this.down.has(healthKey);
  }
  set(healthKey: HealthKey, up: boolean): void {
    if (up) this.down.delete(healthKey);
    else this.down.add(healthKey);
  }
}
