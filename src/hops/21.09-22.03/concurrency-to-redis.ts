/**
 * 22.03 drops keypairs.concurrency_used and counts concurrency in Redis DB 0 under
 * keypair.concurrency_used.{access_key}, one per resource-occupying kernel (backend.ai-manager@22.03.3:
 * src/ai/backend/manager/scheduler/predicates.py and models/kernel.py, recalc_concurrency_used).
 * The manager creates missing counters lazily at 0 but never corrects wrong ones, so bai-migrate
 * sets every keypair's counter from PostgreSQL and zeroes counters of unknown access keys.
 */
import { REDIS_DB, type Deployment } from '../../stores/deployment.js';
import { columnExists, tableExists } from '../../stores/schema.js';
import { changed, failed, ok, warning, type Finding, type Step, type StepContext } from '../../steps/step.js';
import { lineFacts } from '../../releases/line-facts.js';
import { MigrationError } from '../../core/errors.js';
import { cannotKeepDroppedValues, DROPPED_VALUES, keepColumn, mayKeepDroppedValues } from '../../stores/dropped-values.js';

const PREFIX = 'keypair.concurrency_used.';

/** The kernel statuses the target line's counter leaves out (every status but these occupies resources). */
function notOccupying(ctx: StepContext): readonly string[] {
  const statuses = lineFacts(ctx.hop.to.line).notOccupyingKernelStatuses;
  if (!statuses) throw new MigrationError('unsupported', `no resource-occupying kernel statuses are recorded for Backend.AI ${ctx.hop.to.line} (src/releases/line-facts.ts)`);
  return statuses;
}

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
    const present = await columnExists(pg, 'keypairs', 'concurrency_used');
    const column = present ? 'keypairs.concurrency_used still exists' : 'keypairs.concurrency_used is already dropped';
    const findings = [ok(`${rows[0]?.count ?? 0} keypair(s); ${column}; ${existing.size} ${PREFIX}* key(s) in Redis DB 0`)];
    // A warning: read-only credentials pass preflight, and migrate stops on this before its first change.
    if (present && !(await mayKeepDroppedValues(pg))) findings.push(warning(await cannotKeepDroppedValues(pg, 'keypairs.concurrency_used is dropped by 22.03')));
    return findings;
  },

  async backup({ deployment }) {
    if (!(await columnExists(deployment.postgres, 'keypairs', 'concurrency_used'))) return undefined;
    const { rows } = await deployment.postgres.query('SELECT access_key, concurrency_used FROM keypairs ORDER BY access_key');
    return { name: 'keypairs.concurrency_used.json', content: JSON.stringify(rows, null, 2) };
  },

  // The counters become Redis's, and the old values are gone with the column; a bundle may be pruned, so they are kept in the database too.
  async carryForward({ deployment }) {
    const pg = deployment.postgres;
    if (!(await columnExists(pg, 'keypairs', 'concurrency_used'))) return undefined;
    const kept = await keepColumn(pg, { table: 'keypairs', key: 'access_key', column: 'concurrency_used' }, DROPPED_BY);
    return ok(`keypairs.concurrency_used of ${kept} keypair(s) kept in PostgreSQL as ${DROPPED_VALUES} (alembic ${DROPPED_BY} drops the column)`);
  },

  async dryRun(ctx) {
    const { differing, stale } = await compare(ctx.deployment, notOccupying(ctx));
    return [ok(`would set ${differing.length} counter(s) and zero ${stale.length} stale counter(s) in Redis DB 0`)];
  },

  async apply(ctx) {
    const { deployment } = ctx;
    const { differing, stale } = await compare(deployment, notOccupying(ctx));
    if (differing.length === 0 && stale.length === 0) return ok('every keypair.concurrency_used counter already matches PostgreSQL');
    const redis = await deployment.redis(REDIS_DB.stat);
    const updates = [...differing.map(([accessKey, count]): [string, string] => [`${PREFIX}${accessKey}`, String(count)]), ...stale.map((key): [string, string] => [key, '0'])];
    // One MSET per thousand counters: a cluster has tens of thousands of keypairs.
    const pipeline = redis.pipeline();
    for (let i = 0; i < updates.length; i += 1_000) pipeline.mset(...updates.slice(i, i + 1_000).flat());
    const results = (await pipeline.exec()) ?? [];
    const error = results.find(([err]) => err)?.[0];
    if (error) return failed(`Redis refused a counter update: ${error.message}`);
    return changed(`set ${differing.length} counter(s) from the kernels table, zeroed ${stale.length} stale counter(s)`);
  },

  async verify(ctx) {
    const { expected, differing, stale } = await compare(ctx.deployment, notOccupying(ctx));
    const findings: Finding[] = [];
    findings.push(
      differing.length === 0
        ? ok(`${expected.size} keypair counter(s) match the resource-occupying kernels in PostgreSQL`)
        : failed(
            `${differing.length} counter(s) differ from PostgreSQL, e.g. ${differing
              .slice(0, 3)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ')}`,
          ),
    );
    if (stale.length > 0) findings.push(failed(`${stale.length} counter(s) of unknown access keys are not 0`));
    return findings;
  },
};

/** The 22.03 revision that drops keypairs.concurrency_used (remove_keypair_concurrency_used). */
const DROPPED_BY = 'd59ff89e7514';

/**
 * The names of every counter in Redis DB 0, found by one SCAN per run: the DB also holds a stat key
 * per kernel ever run, so a SCAN is most of this step's reading. Managers and agents are stopped
 * (services-stopped), so no counter appears during the run, and this step writes only counters
 * of known keypairs and zeroes existing ones; every phase reads the values again, by name.
 */
const counterNames = new WeakMap<Deployment, Promise<string[]>>();

function scanCounterNames(deployment: Deployment): Promise<string[]> {
  let names = counterNames.get(deployment);
  if (!names) {
    names = (async () => {
      const redis = await deployment.redis(REDIS_DB.stat);
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 10_000);
        found.push(...keys);
        cursor = next;
      } while (cursor !== '0');
      return found;
    })();
    counterNames.set(deployment, names);
    names.catch(() => counterNames.delete(deployment));
  }
  return names;
}

/** The values of the counters named, read in batches. */
async function readCounters(deployment: Deployment, names: readonly string[]): Promise<Map<string, string | null>> {
  const redis = await deployment.redis(REDIS_DB.stat);
  const counters = new Map<string, string | null>();
  for (let i = 0; i < names.length; i += 10_000) {
    const batch = names.slice(i, i + 10_000);
    const values = await redis.mget(batch);
    batch.forEach((name, j) => counters.set(name, values[j] ?? null));
  }
  return counters;
}

async function redisCounters(deployment: Deployment): Promise<Map<string, string | null>> {
  const counters = await readCounters(deployment, await scanCounterNames(deployment));
  // A name the SCAN found may since have gone (deleted by hand): only counters that exist count.
  for (const [name, value] of counters) if (value === null) counters.delete(name);
  return counters;
}

/** What PostgreSQL says each counter must be, and where Redis disagrees. */
async function compare(deployment: Deployment, notOccupyingStatuses: readonly string[]) {
  const { rows } = await deployment.postgres.query<{ access_key: string; used: string }>(
    // Only the occupying kernels are counted (a few, of a history of millions), then joined to every keypair.
    `SELECT k.access_key, COALESCE(o.used, 0) AS used
       FROM keypairs k
       LEFT JOIN (SELECT access_key, count(*) AS used FROM kernels WHERE status::text <> ALL ($1) GROUP BY access_key) o ON o.access_key = k.access_key`,
    [notOccupyingStatuses],
  );
  const expected = new Map(rows.map((r) => [r.access_key, Number(r.used)]));
  // Every keypair's counter by name (a new one too), and those of access keys no keypair has.
  const unknown = (await scanCounterNames(deployment)).filter((name) => !expected.has(name.slice(PREFIX.length)));
  const counters = await readCounters(deployment, [...[...expected.keys()].map((accessKey) => `${PREFIX}${accessKey}`), ...unknown]);
  const differing = [...expected].filter(([accessKey, count]) => counters.get(`${PREFIX}${accessKey}`) !== String(count));
  const stale = [...counters].filter(([key, value]) => !expected.has(key.slice(PREFIX.length)) && value !== null && value !== '0').map(([key]) => key);
  return { expected, differing, stale };
}
