/**
 * 22.03 drops keypairs.concurrency_used and counts concurrency in Redis DB 0 under
 * keypair.concurrency_used.{access_key}, one per resource-occupying kernel (reference §3.2).
 * The manager creates missing counters lazily at 0 but never corrects wrong ones, so bai-migrate
 * sets every keypair's counter from PostgreSQL and zeroes counters of unknown access keys.
 */
import { REDIS_DB, type Deployment } from '../engine/deployment.js';
import { columnExists, tableExists } from '../engine/schema.js';
import { changed, failed, ok, warning, type Finding, type Step } from './step.js';

const PREFIX = 'keypair.concurrency_used.';
/** 22.03's USER_RESOURCE_OCCUPYING_KERNEL_STATUSES: every status but these. */
const NOT_OCCUPYING = ['TERMINATING', 'TERMINATED', 'PENDING', 'CANCELLED'];

export const concurrencyToRedis: Step = {
  id: 'concurrency-to-redis',
  title: 'Keypair concurrency moves to Redis',
  kind: 'change',
  action: 'Backs up keypairs.concurrency_used before the column is dropped, then sets keypair.concurrency_used.{access_key} in Redis DB 0 from the resource-occupying kernels.',
  servers: ['postgres', 'redis'],
  tables: ['keypairs', 'kernels'],

  async preflight({ deployment }) {
    const pg = deployment.postgres;
    if (!(await tableExists(pg, 'keypairs'))) return [warning('the database has no keypairs table')];
    const existing = await redisCounters(deployment);
    const { rows } = await pg.query<{ count: string }>('SELECT count(*) FROM keypairs');
    const column = (await columnExists(pg, 'keypairs', 'concurrency_used')) ? 'keypairs.concurrency_used still exists' : 'keypairs.concurrency_used is already dropped';
    return [ok(`${rows[0]?.count ?? 0} keypair(s); ${column}; ${existing.size} ${PREFIX}* key(s) in Redis DB 0`)];
  },

  async backup({ deployment }) {
    if (!(await columnExists(deployment.postgres, 'keypairs', 'concurrency_used'))) return undefined;
    const { rows } = await deployment.postgres.query('SELECT access_key, concurrency_used FROM keypairs ORDER BY access_key');
    return { name: 'keypairs.concurrency_used.json', content: JSON.stringify(rows, null, 2) };
  },

  async dryRun({ deployment }) {
    const { differing, stale } = await compare(deployment);
    return [ok(`would set ${differing.length} counter(s) and zero ${stale.length} stale counter(s) in Redis DB 0`)];
  },

  async apply({ deployment }) {
    const { differing, stale } = await compare(deployment);
    if (differing.length === 0 && stale.length === 0) return ok('every keypair.concurrency_used counter already matches PostgreSQL');
    const redis = await deployment.redis(REDIS_DB.stat);
    const pipeline = redis.pipeline();
    for (const [accessKey, count] of differing) pipeline.set(`${PREFIX}${accessKey}`, String(count));
    for (const key of stale) pipeline.set(key, '0');
    const results = (await pipeline.exec()) ?? [];
    const error = results.find(([err]) => err)?.[0];
    if (error) return failed(`Redis refused a counter update: ${error.message}`);
    return changed(`set ${differing.length} counter(s) from the kernels table, zeroed ${stale.length} stale counter(s)`);
  },

  async verify({ deployment }) {
    const { expected, differing, stale } = await compare(deployment);
    const findings: Finding[] = [];
    findings.push(
      differing.length === 0
        ? ok(`${expected.size} keypair counter(s) match the resource-occupying kernels in PostgreSQL`)
        : failed(`${differing.length} counter(s) differ from PostgreSQL, e.g. ${differing.slice(0, 3).map(([k, v]) => `${k}=${v}`).join(', ')}`),
    );
    if (stale.length > 0) findings.push(failed(`${stale.length} counter(s) of unknown access keys are not 0`));
    return findings;
  },
};

async function redisCounters(deployment: Deployment): Promise<Map<string, string | null>> {
  const redis = await deployment.redis(REDIS_DB.stat);
  const counters = new Map<string, string | null>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    const values = keys.length > 0 ? await redis.mget(keys) : [];
    keys.forEach((key, i) => counters.set(key, values[i] ?? null));
    cursor = next;
  } while (cursor !== '0');
  return counters;
}

/** What PostgreSQL says each counter must be, and where Redis disagrees. */
async function compare(deployment: Deployment) {
  const { rows } = await deployment.postgres.query<{ access_key: string; used: string }>(
    `SELECT k.access_key, count(kn.id) FILTER (WHERE kn.status::text <> ALL ($1)) AS used
       FROM keypairs k LEFT JOIN kernels kn ON kn.access_key = k.access_key
      GROUP BY k.access_key`,
    [NOT_OCCUPYING],
  );
  const expected = new Map(rows.map((r) => [r.access_key, Number(r.used)]));
  const counters = await redisCounters(deployment);
  const differing = [...expected].filter(([accessKey, count]) => counters.get(`${PREFIX}${accessKey}`) !== String(count));
  const stale = [...counters].filter(([key, value]) => !expected.has(key.slice(PREFIX.length)) && value !== '0').map(([key]) => key);
  return { expected, differing, stale };
}
