/**
 * The snapshot in the Actions cache: the snapshot job saves it under `{key}-{time}` (cache entries
 * cannot be overwritten, and a nightly snapshot needs a new entry each night), and the rehearsal
 * job (on a pull request, perhaps days later) restores the newest entry whose key starts with
 * `{key}-`. The cache matches paths too, so both jobs must give the same snapshot-file.
 */
import * as cache from '@actions/cache';
import { MigrationError } from '../engine/errors.js';

function requireCache(key: string): void {
  if (!cache.isFeatureAvailable()) {
    throw new MigrationError('invalid-input', `snapshot-cache-key "${key}" is set, but the Actions cache is not available here (it exists only inside GitHub Actions); accepted: no snapshot-cache-key, with snapshot-file pointing at the file`);
  }
}

export async function saveSnapshot(file: string, key: string): Promise<string> {
  requireCache(key);
  const entry = `${key}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await cache.saveCache([file], entry);
  return entry;
}

export async function restoreSnapshot(file: string, key: string): Promise<string> {
  requireCache(key);
  const hit = await cache.restoreCache([file], key, [`${key}-`]);
  if (!hit) {
    throw new MigrationError('invalid-input', `no snapshot in the Actions cache under key "${key}-…" for path ${file}: run the snapshot workflow with the same snapshot-cache-key and snapshot-file first`);
  }
  return hit;
}
