/**
 * 22.03 drops keypairs.concurrency_used and counts concurrency in Redis DB 0 under
 * keypair.concurrency_used.{access_key} (reference §3.2).
 */
import { REDIS_DB } from '../engine/deployment.js';
import { columnExists, tableExists } from '../engine/schema.js';
import { ok, warning, type Step } from './step.js';

export const concurrencyToRedis: Step = {
  id: 'concurrency-to-redis',
  title: 'Keypair concurrency moves to Redis',
  kind: 'change',
  action: 'Backs up keypairs.concurrency_used before the column is dropped, then sets keypair.concurrency_used.{access_key} in Redis DB 0 from the live kernels.',
  servers: ['postgres', 'redis'],

  async preflight({ deployment }) {
    const pg = deployment.postgres;
    const redis = await deployment.redis(REDIS_DB.stat);
    let existing = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', 'keypair.concurrency_used.*', 'COUNT', 1000);
      existing += keys.length;
      cursor = next;
    } while (cursor !== '0');
    if (!(await tableExists(pg, 'keypairs'))) return [warning('the database has no keypairs table')];
    const { rows } = await pg.query<{ count: string }>('SELECT count(*) FROM keypairs');
    const column = (await columnExists(pg, 'keypairs', 'concurrency_used')) ? 'keypairs.concurrency_used still exists' : 'keypairs.concurrency_used is already dropped';
    return [ok(`${rows[0]?.count ?? 0} keypair(s); ${column}; ${existing} keypair.concurrency_used.* key(s) in Redis DB 0`)];
  },
};
