import type { PingDataOut } from '@shahn/contract';
import type { Deps } from './deps.js';

/** GET /v3/ping: the API (the store answers) and each operator as its gateway reports it. */
export async function getPing(deps: Pick<Deps, 'store' | 'gateways'>): Promise<PingDataOut> {
  let api: PingDataOut['api'] = 'ok';
  try {
    await deps.store.ping();
  } catch {
    api = 'error';
  }
  const h = deps.gateways;
  const ud = (up: boolean) => (up ? 'up' : 'down');
  return {
    api,
    operators: {
      mobilis: ud(h.isUp('mobilis')),
      djezzy: ud(h.isUp('djezzy')),
      ooredoo: ud(h.isUp('ooredoo')),
      mobilisFixedPlans: ud(h.isUp('mobilisFixedPlans')),
    },
  };
}
