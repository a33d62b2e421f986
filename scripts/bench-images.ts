/**
 * Benchmark of the image-metadata step: import N etcd image tags (default 10,000; BENCH_IMAGES)
 * into PostgreSQL, next to the floor of any such import: one plain prefix read of the same etcd
 * tree. Both are measured in the same run on the same servers, each the median of three (every
 * first import on emptied tables and a new connection), and the ratio is printed.
 */
import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { ALEMBIC_COMMAND, FIXTURE_ALEMBIC_INI, createDeployment, withTestbed } from '../__tests__/support/deployment.js';
import { runAlembic } from '../src/manager/alembic.js';
import { resolveTargets } from '../src/stores/connections.js';
import { Deployment } from '../src/stores/deployment.js';
import { MemoryLogger } from '../src/core/logger.js';
import { parseOptions } from '../src/options/index.js';
import { imageMetadata } from '../src/hops/21.09-22.03/image-metadata.js';
import { parseVersion, targetRelease } from '../src/releases/catalogue.js';
import { stepSettings, type StepContext } from '../src/steps/step.js';
import { benchMachine, printRatio } from './bench-support.js';

const count = Number(process.env.BENCH_IMAGES ?? 10_000);
const repeats = Number(process.env.BENCH_REPEATS ?? 7);

await withTestbed(async (info, admin) => {
  const seeded = await createDeployment(admin, info, { registries: false });
  const toml = seeded.writeManagerToml();
  await runAlembic({ command: ALEMBIC_COMMAND.split(' '), config: FIXTURE_ALEMBIC_INI }, { ...info.postgres, database: seeded.database, source: 'bench' }, ['upgrade', 'head']);

  process.stdout.write(`Writing ${count} image tags to etcd… `);
  const etcd = admin.etcd.namespace(`/sorna/${seeded.namespace}/`);
  const puts: Array<[string, string]> = [];
  for (let i = 0; i < count; i++) {
    const base = `images/cr.backend.ai/${encodeURIComponent(`bench/image-${Math.floor(i / 10)}`)}/tag-${i % 10}`;
    puts.push([base, `sha256:${i.toString(16).padStart(64, '0')}`], [`${base}/size_bytes`, String(1_000_000 + i)]);
    puts.push([`${base}/labels/ai.backend.kernelspec`, '1'], [`${base}/labels/ai.backend.features`, 'batch query'], [`${base}/resource/cpu/min`, '1']);
  }
  for (let i = 0; i < puts.length; i += 1000) await Promise.all(puts.slice(i, i + 1000).map(([k, v]) => etcd.put(k).value(v)));
  // The registry the tags name: 21.09 (and so the import) cannot use a tag of a registry it does not know.
  await etcd.put('config/docker/registry/cr.backend.ai').value('https://cr.backend.ai');
  console.log(`${puts.length} keys.`);

  const options = parseOptions({ command: 'migrate', 'to-version': '22.03', 'manager-config': toml });
  /** A run's own connection: nothing of the tree read or parsed yet, as at the start of a migrate. */
  const connectFresh = async () => {
    const deployment = new Deployment(resolveTargets(options, {}), 30_000, () => undefined);
    await deployment.connect(['postgres', 'etcd']);
    return deployment;
  };
  const contextOf = (deployment: Deployment): StepContext => ({
    deployment,
    settings: stepSettings(options),
    hop: { label: '21.09 → 22.03', fromLine: '21.09', to: targetRelease(parseVersion('22.03', 'to-version')), steps: [imageMetadata] },
    log: new MemoryLogger(),
    alembic: { command: [], config: '' },
    managerCli: { command: ['backend.ai'] },
  });
  let deployment = await connectFresh();

  const time = async (body: () => Promise<unknown>) => {
    const start = performance.now();
    await body();
    return performance.now() - start;
  };
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

  // The floor: one prefix read of the whole tree. It needs a client allowed to receive more than
  // gRPC's default 4 MiB; bai-migrate itself reads in pages instead.
  const plain = new Etcd3({ hosts: `http://${info.etcd.host}:${info.etcd.port}`, grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 } });
  const reads: number[] = [];
  for (let i = 0; i < repeats; i++) reads.push(await time(() => plain.namespace(`/sorna/${seeded.namespace}/`).getAll().prefix('images/').strings()));
  plain.close();
  const pagedReads: number[] = [];
  for (let i = 0; i < repeats; i++) pagedReads.push(await time(() => deployment.etcdPrefix('images/')));
  // Each first import on empty tables and a fresh connection, like the first run of a migrate.
  const firstImports: number[] = [];
  for (let i = 0; i < repeats; i++) {
    await seeded.pg.query('TRUNCATE image_aliases, images');
    await seeded.pg.query('VACUUM ANALYZE images');
    await deployment.close();
    deployment = await connectFresh();
    const ctx = contextOf(deployment);
    firstImports.push(
      await time(async () => {
        const result = await imageMetadata.apply!(ctx);
        if (result.status !== 'changed') throw new Error(`import did not change anything: ${result.detail}`);
      }),
    );
  }
  const ctx = contextOf(deployment);
  const reimports: number[] = [];
  for (let i = 0; i < repeats; i++) {
    reimports.push(
      await time(async () => {
        const result = await imageMetadata.apply!(ctx);
        if (result.status !== 'ok') throw new Error(`a second import changed something: ${result.detail}`);
      }),
    );
  }
  const rows = Number((await seeded.pg.query('SELECT count(*) FROM images')).rows[0].count);
  if (rows !== count) throw new Error(`expected ${count} rows, found ${rows}`);

  const read = median(reads);
  const firstImport = median(firstImports);
  const fmt = (ms: number) => `${ms.toFixed(0).padStart(6)} ms`;
  console.log(`\n${benchMachine()}`);
  console.log(`image-metadata import of ${count} etcd image tags (${puts.length} keys), PostgreSQL and etcd on this machine`);
  console.log(`  plain etcd prefix read (getAll().prefix('images/'), median of ${repeats}) ${fmt(read)}   1.00×`);
  console.log(`  bai-migrate's paged read of the same tree (median of ${repeats})    ${fmt(median(pagedReads))}   ${(median(pagedReads) / read).toFixed(2)}×`);
  console.log(`  first import (read, parse, one-transaction insert; median of ${repeats}, each on empty tables) ${fmt(firstImport)}   ${(firstImport / read).toFixed(2)}×`);
  console.log(`  repeated import, nothing to change (median of ${repeats})         ${fmt(median(reimports))}   ${(median(reimports) / read).toFixed(2)}×`);
  console.log(`  rows in images: ${rows}; throughput of the first import: ${Math.round((count / firstImport) * 1000)} images/s`);
  printRatio(
    'image-import/etcd-read',
    firstImport / read,
    `first import ${firstImport.toFixed(0)} ms (${firstImports.map((ms) => ms.toFixed(0)).join(', ')}) vs one plain read of the tree ${read.toFixed(0)} ms`,
  );
  await deployment.close();
  await seeded.close();
});
