/** The Redis side of clear-history: stat keys (kernel UUIDs) in DB 0, removed or counted in batches. */
import { REDIS_DB, type Deployment } from '../stores/deployment.js';

/** Which kernels' stat keys: those terminated before the cutoff (every release's manager selects these). */
export interface StatKeyScope {
  readonly kind: 'terminated-before';
  readonly cutoff: Date;
}

export async function unlink(deployment: Deployment, keys: string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const redis = await deployment.redis(REDIS_DB.stat);
  return redis.unlink(...keys);
}

/**
 * The kernel ids in scope, `batchSize` at a time, oldest first: each batch starts where the last
 * ended on (terminated_at, id), so it is a short range scan of the terminated_at index (in id
 * order, every batch filtered the whole primary key up to its place: about 0.5 s a batch at 1M
 * kernels). terminated_at goes back as text, keeping its microseconds.
 */
async function* kernelIdBatches(deployment: Deployment, scope: StatKeyScope, batchSize: number): AsyncGenerator<string[]> {
  let after: { at: string; id: string } = { at: '-infinity', id: '00000000-0000-0000-0000-000000000000' };
  for (;;) {
    const { rows } = await deployment.postgres.query<{ id: string; at: string }>(
      `SELECT id::text AS id, terminated_at::text AS at FROM kernels
        WHERE terminated_at < $1 AND terminated_at >= $2::timestamptz AND (terminated_at, id) > ($2::timestamptz, $3::uuid)
        ORDER BY kernels.terminated_at, kernels.id LIMIT $4`,
      [scope.cutoff, after.at, after.id, batchSize],
    );
    if (rows.length === 0) return;
    yield rows.map((r) => r.id);
    after = rows[rows.length - 1]!;
  }
}

/** How many of the scope's kernels have a stat key: what unlinkStatKeysOfKernels then removes. */
export async function countStatKeysOfKernels(deployment: Deployment, scope: StatKeyScope, batchSize: number): Promise<number> {
  const redis = await deployment.redis(REDIS_DB.stat);
  let count = 0;
  for await (const ids of kernelIdBatches(deployment, scope, batchSize)) count += await redis.exists(...ids);
  return count;
}

/** Removes the stat keys of the scope's kernels (one UNLINK per batch); how many existed. */
export async function unlinkStatKeysOfKernels(deployment: Deployment, scope: StatKeyScope, batchSize: number): Promise<number> {
  let removed = 0;
  for await (const ids of kernelIdBatches(deployment, scope, batchSize)) removed += await unlink(deployment, ids);
  return removed;
}
