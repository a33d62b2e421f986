/**
 * 22.03 adds [manager] distributed-lock. The guide says the new default is etcd, but the code
 * defaults to pg_advisory from 22.03.2 on (MGR#592; reference §5.3), so the value is written
 * explicitly when the operator chooses one.
 */
import { isTable, parseToml } from '../../manager/toml.js';
import { backupManagerToml, currentConfig, dryRunSetting, writeSetting } from '../../manager/manager-toml.js';
import { failed, ok, type Step } from '../../steps/step.js';

const DEFAULT_NOTE = 'the upgrade guide says the default is etcd, but the manager defaults to pg_advisory from 22.03.2 (etcd only in 22.03.0 and 22.03.1)';

export const distributedLock: Step = {
  id: 'distributed-lock',
  title: '[manager] distributed-lock in manager.toml',
  kind: 'change',
  action: 'Writes the chosen lock backend to [manager] distributed-lock in manager.toml, keeping its comments and layout.',
  servers: [],

  async preflight({ options, deployment }) {
    const backend = options.lockBackend;
    const config = deployment.targets.managerConfig;
    const manager = config?.table.manager;
    const current = isTable(manager) ? manager['distributed-lock'] : undefined;
    if (!backend) {
      return [ok(`lock-backend not set: distributed-lock stays ${current === undefined ? 'unset' : `"${String(current)}"`}; ${DEFAULT_NOTE}`)];
    }
    if (backend === 'redlock') {
      return [failed('lock-backend "redlock" is not supported by Backend.AI 22.03; accepted: filelock, pg_advisory, etcd')];
    }
    if (!config) {
      return [failed(`lock-backend "${backend}" must be written to manager.toml, but no manager.toml was found: set manager-config`)];
    }
    return [ok(`distributed-lock will be "${backend}" in ${config.path} (now ${current === undefined ? 'unset' : `"${String(current)}"`}); ${DEFAULT_NOTE}`)];
  },

  async dryRun(ctx) {
    if (!ctx.options.lockBackend) return [ok('lock-backend not set: manager.toml stays as it is')];
    return [await dryRunSetting(ctx, 'manager', 'distributed-lock', ctx.options.lockBackend)];
  },

  async backup(ctx) {
    if (!ctx.options.lockBackend || !ctx.deployment.targets.managerConfig) return undefined;
    return backupManagerToml(ctx);
  },

  async apply(ctx) {
    if (!ctx.options.lockBackend) return ok('lock-backend not set: manager.toml left as it is');
    return writeSetting(ctx, 'manager', 'distributed-lock', ctx.options.lockBackend);
  },

  async verify(ctx) {
    const { options } = ctx;
    if (!options.lockBackend) return [ok('lock-backend not set: nothing to verify')];
    const manager = parseToml((await currentConfig(ctx)).text).manager;
    const current = isTable(manager) ? manager['distributed-lock'] : undefined;
    return [
      current === options.lockBackend
        ? ok(`[manager] distributed-lock is "${current}"`)
        : failed(`[manager] distributed-lock is ${current === undefined ? 'unset' : `"${String(current)}"`}; expected "${options.lockBackend}"`),
    ];
  },
};
