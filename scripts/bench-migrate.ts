/**
 * Benchmark of migrate 21.09 → 22.03 at the scale of a large cluster, without its alembic step:
 * 100,000 kernels (BENCH_MIGRATE_KERNELS; all ended, as migrate requires) with their Redis stat keys, 10,000 keypairs, 5,000
 * image tags under 500 images and 1,000 aliases in etcd. In the same run it measures the floor of
 * that work: reading once each what the steps read (the keypairs' concurrency, the occupying
 * kernels per keypair, the keypair counters among Redis's stat keys, the etcd image tree and
 * registries, manager and agent liveness, Redis's persistence settings). The alembic step is left out by running it first (the stand-in alembic
 * project): migrate (from-version 21.09) then finds the schema at 22.03's head and runs no alembic,
 * and its time is the whole engine run: connect, plan, preflight, backup, every step and its verify.
 * Three runs, each after a read of the floor: between runs, what migrate changed is undone
 * (images, counters, appendonly, manager.toml), so that each is a first migrate; the ratio is the
 * median of the three run-to-floor ratios.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { ALEMBIC_COMMAND, FIXTURE_ALEMBIC_INI, createDeployment, migrateInputs, withTestbed } from '../__tests__/support/deployment.js';
import { runAlembic } from '../src/manager/alembic.js';
import { runEngine } from '../__tests__/support/run.js';
import { formatDuration, type Report } from '../src/core/report/index.js';
import { benchMachine, printRatio } from './bench-support.js';

const kernels = Number(process.env.BENCH_MIGRATE_KERNELS ?? 100_000);
const keypairs = 10_000;
const images = 500;
const tagsPerImage = 10;
const aliases = 1_000;
const repeats = Number(process.env.BENCH_REPEATS ?? 3);

await withTestbed(async (info, admin) => {
  const deployment = await createDeployment(admin, info);
  const pg = deployment.pg;
  console.log(`Seeding ${kernels} kernels, ${keypairs} keypairs, ${images * tagsPerImage} image tags and ${aliases} aliases…`);
  await pg.query(
    `INSERT INTO keypairs (access_key, secret_key, user_id, resource_policy, concurrency_used)
     SELECT 'AKBENCH' || lpad(n::text, 13, '0'), md5(n::text), 'user' || n || '@example.com', 'default', n % 4 FROM generate_series(1, $1) AS n`,
    [keypairs],
  );
  await pg.query(
    `INSERT INTO kernels (id, session_id, access_key, agent, status, terminated_at)
     SELECT gen_random_uuid(), gen_random_uuid(), 'AKBENCH' || lpad((1 + n % $2)::text, 13, '0'), 'i-agent-1',
            (CASE WHEN n % 50 = 0 THEN 'CANCELLED' ELSE 'TERMINATED' END)::kernelstatus, now() - n * interval '1 minute'
       FROM generate_series(1, $1) AS n`,
    [kernels, keypairs],
  );
  await runAlembic({ command: ALEMBIC_COMMAND.split(' '), config: FIXTURE_ALEMBIC_INI }, { ...info.postgres, database: deployment.database, source: 'bench' }, ['upgrade', 'head']);
  await pg.query('VACUUM ANALYZE');
  const redis = admin.redis(0);
  const { rows: ids } = await pg.query<{ id: string }>('SELECT id::text FROM kernels');
  for (let i = 0; i < ids.length; i += 10_000) {
    const pipe = redis.pipeline();
    for (const { id } of ids.slice(i, i + 10_000)) pipe.set(id, '{"cpu_util":{"current":"12.5"}}');
    await pipe.exec();
  }
  const etcd = admin.etcd.namespace(`/sorna/${deployment.namespace}/`);
  const puts: Array<[string, string]> = [];
  for (let i = 0; i < images; i++) {
    const base = `images/cr.backend.ai/${encodeURIComponent(`bench/image-${i}`)}`;
    puts.push([base, '1']);
    for (let t = 0; t < tagsPerImage; t++) {
      const tag = `${base}/tag-${t}`;
      puts.push([tag, `sha256:${(i * tagsPerImage + t).toString(16).padStart(64, '0')}`], [`${tag}/size_bytes`, String(1_000_000 + t)]);
      puts.push([`${tag}/labels/ai.backend.kernelspec`, '1'], [`${tag}/resource/cpu/min`, '1'], [`${tag}/resource/mem/min`, '1g']);
    }
  }
  for (let i = 0; i < aliases; i++) puts.push([`images/_aliases/bench-${i}`, `cr.backend.ai/bench/image-${i % images}:tag-${i % tagsPerImage}`]);
  for (let i = 0; i < puts.length; i += 1000) await Promise.all(puts.slice(i, i + 1000).map(([k, v]) => etcd.put(k).value(v)));

  // The floor: each thing the steps read, read once, over plain clients.
  const plainEtcd = new Etcd3({ hosts: `http://${info.etcd.host}:${info.etcd.port}`, grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 } });
  const readOnce = async () => {
    const floorStart = performance.now();
    await pg.query('SELECT access_key FROM keypairs');
    await pg.query(`SELECT access_key, count(*) FROM kernels WHERE status NOT IN ('TERMINATED', 'CANCELLED') GROUP BY access_key`);
    await pg.query(`SELECT id FROM agents WHERE status::text = 'ALIVE'`);
    const ns = plainEtcd.namespace(`/sorna/${deployment.namespace}/`);
    await ns.getAll().prefix('images/').strings();
    await ns.getAll().prefix('config/docker/registry/').strings();
    await ns.getAll().prefix('nodes/manager/').strings();
    // The keypair counters among the stat keys (one SCAN, then their values), and the agents' heartbeats.
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', 'keypair.concurrency_used.*', 'COUNT', 10_000);
      if (keys.length > 0) await redis.mget(keys);
      cursor = next;
    } while (cursor !== '0');
    await admin.redis(4).xrevrange('events', '+', '-', 'COUNT', 1);
    await redis.config('GET', 'appendonly');
    await redis.info('persistence');
    return performance.now() - floorStart;
  };

  const toml = deployment.writeManagerToml();
  const original = readFileSync(toml, 'utf8');
  /** What migrate changed, undone: the next run is a first migrate again (the schema stays at 22.03's head). */
  const reset = async () => {
    await pg.query('TRUNCATE image_aliases, images');
    const counters = await redis.keys('keypair.concurrency_used.*');
    if (counters.length > 0) await redis.del(...counters);
    await redis.config('SET', 'appendonly', 'no');
    writeFileSync(toml, original);
    await pg.query('VACUUM ANALYZE images, image_aliases');
  };
  const runs: Array<{ total: number; floor: number; report: Report }> = [];
  for (let i = 0; i < repeats; i++) {
    if (i > 0) await reset();
    const floor = await readOnce();
    const start = performance.now();
    const { report } = await runEngine(migrateInputs(toml, { 'from-version': '21.09', 'connect-timeout': '60' }));
    const total = performance.now() - start;
    if (report.outcome !== 'success') throw new Error(`migrate failed: ${report.error}`);
    if (!report.entries.some((e) => e.step === 'image-metadata' && e.status === 'changed')) throw new Error('a repeated migrate found nothing to import: the reset did not undo it');
    runs.push({ total, floor, report });
  }
  plainEtcd.close();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  // Each run against the floor read just before it (both warm up alike over the runs); the median of those ratios.
  const ratio = median(runs.map((r) => r.total / r.floor));
  const { report, total, floor } = runs.find((r) => r.total / r.floor === ratio)!;
  const timings = report.timings!;
  const stepsMs = timings.reduce((sum, t) => sum + t.applyMs + t.verifyMs, 0);

  console.log(`\n${benchMachine()}`);
  console.log(`migrate 21.09 → 22.03 of ${kernels} kernels, ${keypairs} keypairs, ${images * tagsPerImage} image tags, ${aliases} aliases (alembic run before)`);
  console.log(`  whole run (the schema already at 22.03's head; runs: ${runs.map((r) => formatDuration(r.total)).join(', ')}; the median run's) ${formatDuration(total).padStart(10)}`);
  console.log(`  connect, plan, preflight (before the first change) ${formatDuration(total - stepsMs).padStart(10)}`);
  for (const t of timings) {
    console.log(`  ${t.step.padEnd(24)} apply ${formatDuration(t.applyMs).padStart(9)}   verify ${formatDuration(t.verifyMs).padStart(9)}`);
  }
  console.log(`  floor: what the steps read, read once (before each run: ${runs.map((r) => formatDuration(r.floor)).join(', ')}; the median run's) ${formatDuration(floor).padStart(10)}`);
  printRatio(
    'migrate/floor',
    ratio,
    `median of ${repeats} runs, each against the floor read just before it (${runs.map((r) => (r.total / r.floor).toFixed(2)).join(', ')}); the median run: migrate without its alembic step ${formatDuration(total)} vs the floor ${formatDuration(floor)}`,
  );
  await deployment.close();
});
