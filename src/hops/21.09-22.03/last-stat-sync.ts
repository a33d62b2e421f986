/**
 * From 22.03 kernels.last_stat is written only when a kernel terminates; the live stats stay in
 * Redis. [debug] periodic-sync-stats = true restores the periodic copy (reference §5.4). The
 * operator decides with the periodic-sync-stats input; without it, nothing changes.
 */
import { isTable, parseToml } from '../../manager/toml.js';
import { backupManagerToml, currentConfig, dryRunSetting, writeSetting } from '../../manager/manager-toml.js';
import { failed, ok, skipped, type Step } from '../../steps/step.js';

const EXPLAIN = 'from 22.03 kernels.last_stat is written only when a kernel terminates; periodic-sync-stats = true copies the live stats from Redis periodically, as before';

export const lastStatSync: Step = {
  id: 'last-stat-sync',
  title: 'kernels.last_stat sync ([debug] periodic-sync-stats)',
  kind: 'change',
  action: 'Writes [debug] periodic-sync-stats to manager.toml when the periodic-sync-stats input is set; otherwise only explains the change.',
  servers: [],

  async preflight({ options, deployment }) {
    if (options.periodicSyncStats === undefined) return [skipped(`periodic-sync-stats not set: ${EXPLAIN}`)];
    if (!deployment.targets.managerConfig) return [failed('periodic-sync-stats must be written to manager.toml, but no manager.toml was found: set manager-config')];
    return [ok(`[debug] periodic-sync-stats will be ${options.periodicSyncStats}; ${EXPLAIN}`)];
  },

  async dryRun(ctx) {
    if (ctx.options.periodicSyncStats === undefined) return [skipped('periodic-sync-stats not set: nothing to change')];
    return [await dryRunSetting(ctx, 'debug', 'periodic-sync-stats', ctx.options.periodicSyncStats)];
  },

  async backup(ctx) {
    return ctx.options.periodicSyncStats === undefined ? undefined : backupManagerToml(ctx);
  },

  async apply(ctx) {
    if (ctx.options.periodicSyncStats === undefined) return skipped(`periodic-sync-stats not set: ${EXPLAIN}`);
    return writeSetting(ctx, 'debug', 'periodic-sync-stats', ctx.options.periodicSyncStats);
  },

  async verify(ctx) {
    if (ctx.options.periodicSyncStats === undefined) return [skipped('periodic-sync-stats not set: nothing to verify')];
    const debug = parseToml((await currentConfig(ctx)).text).debug;
    const value = isTable(debug) ? debug['periodic-sync-stats'] : undefined;
    return [
      value === ctx.options.periodicSyncStats ? ok(`[debug] periodic-sync-stats is ${value}`) : failed(`[debug] periodic-sync-stats is ${String(value)}; expected ${ctx.options.periodicSyncStats}`),
    ];
  },
};
