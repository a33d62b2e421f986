/**
 * What the Action keeps in the Actions cache between runs.
 *
 * The snapshot: the snapshot job saves it under `{key}#snapshot-{time}` (cache entries
 * cannot be overwritten, and a nightly snapshot needs a new entry each night), and the rehearsal
 * job (on a pull request, perhaps days later) restores the newest entry whose key starts with
 * `{key}#snapshot-`. The cache matches paths too, so both jobs must give the same snapshot-file.
 */
import * as cache from '@actions/cache';
import { MigrationError } from '../core/errors.js';
import type { VenvCache } from '../manager/venvs.js';

/** Between the workflow's key and the time: "prod" must not restore "prod-eu"'s snapshots. */
const SNAPSHOT_ENTRY = '#snapshot-';

function requireCache(key: string): void {
  if (!cache.isFeatureAvailable()) {
    throw new MigrationError(
      'invalid-input',
      `snapshot-cache-key "${key}" is set, but the Actions cache is not available here (it exists only inside GitHub Actions); accepted: no snapshot-cache-key, with snapshot-file pointing at the file`,
    );
  }
}

export async function saveSnapshot(file: string, key: string): Promise<string> {
  requireCache(key);
  const entry = `${key}${SNAPSHOT_ENTRY}${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await cache.saveCache([file], entry);
  return entry;
}

export async function restoreSnapshot(file: string, key: string): Promise<string> {
  requireCache(key);
  const hit = await cache.restoreCache([file], key, [`${key}${SNAPSHOT_ENTRY}`]);
  if (!hit) {
    throw new MigrationError(
      'invalid-input',
      `no snapshot in the Actions cache under key "${key}${SNAPSHOT_ENTRY}…" for path ${file}: run the snapshot workflow with the same snapshot-cache-key and snapshot-file first`,
    );
  }
  return hit;
}

/**
 * The manager venvs: the engine restores each one it needs under a key of release, Python and OS
 * before making it, and saves one it had to make. The cache only saves time, so where it is not
 * available the venvs are simply made.
 */
export function actionsVenvCache(): VenvCache | undefined {
  if (!cache.isFeatureAvailable()) return undefined;
  return {
    restore: async (dir, key) => (await cache.restoreCache([dir], key)) !== undefined,
    save: async (dir, key) => {
      await cache.saveCache([dir], key);
    },
  };
}
