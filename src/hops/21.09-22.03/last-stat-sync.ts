/**
 * From 22.03 kernels.last_stat is written only when a kernel terminates; the live stats stay in
 * Redis. [debug] periodic-sync-stats = true restores the periodic copy (MGR@22.03.3:
 * src/ai/backend/manager/config.py). The operator decides with the periodic-sync-stats input;
 * without it, nothing changes.
 */
import { configSetting } from '../../steps/config-setting.js';

export const lastStatSync = configSetting({
  id: 'last-stat-sync',
  title: 'kernels.last_stat sync ([debug] periodic-sync-stats)',
  action: 'Writes [debug] periodic-sync-stats to manager.toml when the periodic-sync-stats input is set; otherwise only explains the change.',
  table: 'debug',
  key: 'periodic-sync-stats',
  input: 'periodic-sync-stats',
  value: (ctx) => ctx.settings.periodicSyncStats,
  unsetStatus: 'skipped',
  why: 'from 22.03 kernels.last_stat is written only when a kernel terminates; periodic-sync-stats = true copies the live stats from Redis periodically, as before',
});
