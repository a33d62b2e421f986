/**
 * 25.5 gives the manager a second listener, `[manager] internal-addr` (default 0.0.0.0:18080), for
 * its internal API (backend.ai@25.5.2:src/ai/backend/manager/config.py, server.py; 25.4.0 has no
 * such key). A manager.toml that does not set it gets a manager listening on every interface's
 * port 18080 after this hop, which matters to firewall rules and to anything else on that port.
 */
import { ok, skipped, type Step } from '../../steps/step.js';

export const INTERNAL_ADDR = { key: 'internal-addr', default: '0.0.0.0:18080' } as const;

export const internalAddr: Step = {
  id: 'internal-addr',
  title: 'The manager listens on internal-addr',
  kind: 'check',
  action: `Reads [manager] ${INTERNAL_ADDR.key} in manager.toml: where it is not set, says that 25.5's manager opens a second listener on ${INTERNAL_ADDR.default}; changes nothing.`,
  servers: [],

  async preflight({ deployment }) {
    const config = deployment.targets.managerConfig;
    if (!config) return [skipped(`no manager.toml was given or found: its [manager] ${INTERNAL_ADDR.key} is not read`)];
    const manager = config.table.manager;
    const section = typeof manager === 'object' && manager !== null && !Array.isArray(manager) ? (manager as Record<string, unknown>) : {};
    const set = section[INTERNAL_ADDR.key];
    return [
      set === undefined
        ? ok(
            `${config.path} does not set [manager] ${INTERNAL_ADDR.key}: 25.5's manager also listens on ${INTERNAL_ADDR.default} (its internal API); set it to keep that port off other interfaces or away from what already uses it`,
          )
        : ok(`${config.path} sets [manager] ${INTERNAL_ADDR.key} = ${JSON.stringify(set)}: 25.5's manager listens there too`),
    ];
  },
};
