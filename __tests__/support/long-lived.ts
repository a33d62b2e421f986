/**
 * A deployment shaped like a cluster that has run for years, seeded on top of a test deployment
 * (support/deployment.ts): hundreds of image tags in two registries (one with a port, so its
 * name is URL-quoted), non-ASCII image names, a hand-registered image with no size, admin-set
 * resource limits, alias chains, dangling aliases and entries the 21.09 manager itself cannot
 * use; thousands of kernels over four years with their Redis stat keys, stat keys of kernels long
 * gone, stale concurrency counters; and a manager.toml with comments and no trailing newline.
 *
 * The seed returns what it planted (`expected`), so that tests compare the run with the seed, not
 * with anything the code under test computes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SEED_IMAGES, type Admin, type TestDeployment } from './deployment.js';

const q = encodeURIComponent;
const HARBOR = 'cr.backend.ai';
/** A plain registry v2 with a port: its etcd key part is "registry.example.com%3A5000". */
const LOCAL = 'registry.example.com:5000';

export interface LongLivedExpectation {
  /** name → what the images row must hold. */
  images: Map<string, { sizeBytes: number; maxCpu?: string }>;
  /** alias → the image name its row must point at. */
  aliases: Map<string, string>;
  /** Aliases that point at no image: not copied, named as dangling. */
  dangling: string[];
  /** etcd keys (relative to the namespace) of the entries 21.09 cannot use, as the message names them. */
  unusableKeys: string[];
  /** Stat keys in Redis DB 0 whose kernel row does not exist. */
  orphanStatKeys: string[];
  /** Access keys of the seeded keypairs, whose counters are stale. */
  accessKeys: string[];
  /** A manager.toml with comments and no trailing newline. */
  managerToml: string;
}

/** tags per image, images per registry: 2 × 12 × 10 = 240 scanned tags. */
const IMAGES_PER_REGISTRY = 12;
const TAGS_PER_IMAGE = 10;
export const KERNELS = 5_000;
const ORPHAN_STAT_KEYS = 300;
const KEYPAIRS = 200;

function digest(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export async function seedLongLived(admin: Admin, deployment: TestDeployment): Promise<LongLivedExpectation> {
  const etcd = admin.etcd.namespace(`/sorna/${deployment.namespace}/`);
  const images = new Map<string, { sizeBytes: number; maxCpu?: string }>();
  // What createDeployment already planted.
  for (const [image, tags] of Object.entries(SEED_IMAGES)) tags.forEach((tag, i) => images.set(`${HARBOR}/${image}:${tag}`, { sizeBytes: 100_000_000 + i }));
  images.get(`${HARBOR}/stable/python:3.9-ubuntu20.04`)!.maxCpu = '8';
  const puts: Array<[string, string]> = [
    [`config/docker/registry/${q(LOCAL)}`, `https://${LOCAL}`],
    [`config/docker/registry/${q(LOCAL)}/type`, 'docker'],
  ];
  const names = (registry: string) =>
    Array.from({ length: IMAGES_PER_REGISTRY }, (_, i) => (registry === LOCAL && i === 0 ? 'team/ciência-dados' : `${registry === HARBOR ? 'stable' : 'team'}/kernel-${i}`));
  for (const registry of [HARBOR, LOCAL]) {
    for (const image of names(registry)) {
      const base = `images/${q(registry)}/${q(image)}`;
      puts.push([base, '1']);
      for (let t = 0; t < TAGS_PER_IMAGE; t++) {
        const tag = `${t}.0-py3${t % 3}-ubuntu20.04`;
        const name = `${registry}/${image}:${tag}`;
        const size = 500_000_000 + t;
        puts.push([`${base}/${tag}`, digest(name)], [`${base}/${tag}/size_bytes`, String(size)]);
        puts.push([`${base}/${tag}/labels/ai.backend.kernelspec`, '1'], [`${base}/${tag}/resource/cpu/min`, '1'], [`${base}/${tag}/resource/mem/min`, '256m']);
        if (t % 4 === 0) puts.push([`${base}/${tag}/accels`, 'cuda']);
        // An admin's limit (mgr etcd set-image-resource-limit) on some tags.
        const maxCpu = t % 5 === 0 ? String(4 + t) : undefined;
        if (maxCpu) puts.push([`${base}/${tag}/resource/cpu/max`, maxCpu]);
        images.set(name, { sizeBytes: size, maxCpu });
      }
    }
  }
  // Registered by hand with etcdctl: a digest, labels and a limit, but no size.
  const handmade = `images/${q(LOCAL)}/${q('team/handmade')}/1.0`;
  puts.push([`images/${q(LOCAL)}/${q('team/handmade')}`, '1'], [handmade, digest('handmade')], [`${handmade}/labels/ai.backend.kernelspec`, '1'], [`${handmade}/resource/cpu/min`, '2']);
  images.set(`${LOCAL}/team/handmade:1.0`, { sizeBytes: 0 });
  // An Arm build: its row is (name, aarch64), which verify must find too.
  const arm = `images/${q(LOCAL)}/${q('team/arm-app')}/1.0`;
  puts.push([arm, digest('arm')], [`${arm}/size_bytes`, '42'], [`${arm}/labels/ai.backend.architecture`, 'aarch64'], [`${arm}/resource/cpu/min`, '1']);
  images.set(`${LOCAL}/team/arm-app:1.0`, { sizeBytes: 42 });

  // Entries 21.09 itself cannot use: labels only (no resource/), and no digest.
  const labelsOnly = `images/${q(LOCAL)}/${q('team/labels-only')}/2.0`;
  const noDigest = `images/${q(HARBOR)}/${q('stable/half-written')}/1.0`;
  puts.push([labelsOnly, digest('labels-only')], [`${labelsOnly}/labels/ai.backend.kernelspec`, '1'], [`${noDigest}/size_bytes`, '1'], [`${noDigest}/resource/cpu/min`, '1']);

  const py = `${HARBOR}/stable/kernel-0:0.0-py30-ubuntu20.04`;
  const data = `${LOCAL}/team/ciência-dados:1.0-py31-ubuntu20.04`;
  const aliases = new Map<string, string>([
    ['python', py],
    ['python3', py], // → python
    ['py', py], // → python3 → python
    ['python:3.9', py], // quoted key, points at the image directly
    ['dados', data],
    ['ciência', data], // non-ASCII alias → dados
    ['handmade', `${LOCAL}/team/handmade:1.0`],
    ['tensorflow', `${HARBOR}/stable/tensorflow:2.7-py38-cuda11.3`], // createDeployment's
  ]);
  puts.push(
    ['images/_aliases/python', py],
    ['images/_aliases/python3', 'python'],
    ['images/_aliases/py', 'python3'],
    [`images/_aliases/${q('python:3.9')}`, py],
    ['images/_aliases/dados', data],
    [`images/_aliases/${q('ciência')}`, 'dados'],
    ['images/_aliases/handmade', `${LOCAL}/team/handmade:1.0`],
    // An image removed from the registry long ago, and an alias of that alias.
    ['images/_aliases/r', `${HARBOR}/stable/r-base:3.6`],
    ['images/_aliases/r-latest', 'r'],
    // Two aliases naming each other.
    ['images/_aliases/loop-a', 'loop-b'],
    ['images/_aliases/loop-b', 'loop-a'],
  );
  for (const [key, value] of puts) await etcd.put(key).value(value);

  // Years of kernels: one every 7 hours over four years, 90 % of them with a stat key.
  const arch = (await deployment.pg.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'kernels' AND column_name = 'architecture'`)).rowCount
    ? { column: ', architecture', value: `, 'x86_64'` }
    : { column: '', value: '' };
  const accessKeys = Array.from({ length: KEYPAIRS }, (_, i) => `AKLONG${String(i).padStart(14, '0')}`);
  const concurrency = (await deployment.pg.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'keypairs' AND column_name = 'concurrency_used'`)).rowCount;
  await deployment.pg.query(
    `INSERT INTO keypairs (access_key, secret_key, user_id, resource_policy${concurrency ? ', concurrency_used' : ''})
     SELECT ak, 'secret-' || ak, lower(ak) || '@example.com', 'default'${concurrency ? ', 1 + (n % 5)' : ''}
       FROM unnest($1::text[]) WITH ORDINALITY AS u(ak, n)`,
    [accessKeys],
  );
  await deployment.pg.query(
    `INSERT INTO kernels (id, session_id, session_name, access_key, agent, status, created_at, terminated_at${arch.column})
     SELECT gen_random_uuid(), gen_random_uuid(), 'session-' || n, ($1::text[])[1 + n % ${KEYPAIRS}], 'i-agent-1',
            CASE WHEN n % 50 = 0 THEN 'CANCELLED' ELSE 'TERMINATED' END::kernelstatus,
            now() - n * interval '7 hours' - interval '10 minutes', now() - n * interval '7 hours'${arch.value}
       FROM generate_series(1, ${KERNELS}) AS n`,
    [accessKeys],
  );
  const { rows } = await deployment.pg.query<{ id: string }>(`SELECT id::text FROM kernels WHERE session_name LIKE 'session-%' AND (substring(session_name from 9))::int % 10 <> 0`);
  const orphanStatKeys = Array.from({ length: ORPHAN_STAT_KEYS }, () => randomUUID());
  const redis = admin.redis(0);
  const pipeline = redis.pipeline();
  for (const { id } of rows) pipeline.set(id, '{"cpu_util":{"current":"3.5"}}');
  for (const id of orphanStatKeys) pipeline.set(id, '{"cpu_util":{"current":"1.0"}}');
  // Counters a crashed manager left behind: none of these keypairs runs anything.
  for (const ak of accessKeys) pipeline.set(`keypair.concurrency_used.${ak}`, '7');
  await pipeline.exec();

  const managerToml = join(dirname(deployment.writeManagerToml()), 'manager-long-lived.toml');
  const { host, port, user, password } = deployment.info.postgres;
  writeFileSync(
    managerToml,
    [
      '# Backend.AI manager configuration (hand-edited since 20.09)',
      '[etcd]',
      `namespace = "${deployment.namespace}"  # shared with the agents`,
      `addr = { host = "${deployment.info.etcd.host}", port = ${deployment.info.etcd.port} }`,
      '',
      '[db]',
      'type = "postgresql"',
      `addr = { host = "${host}", port = ${port} }`,
      `name = "${deployment.database}"`,
      `user = "${user}"`,
      `password = "${password}"`,
      '',
      '[manager]',
      '# num-proc = 8',
      'num-proc = 4',
      'service-addr = { host = "0.0.0.0", port = 8080 }  # behind the load balancer',
      '# distributed-lock = "pg_advisory"',
      '',
      '[docker-registry]  # deprecated since 20.09, still required by the loader',
      'ssl-verify = true',
      '',
      '[logging]',
      'level = "INFO"',
    ].join('\n'),
  );
  return {
    images,
    aliases,
    dangling: ['r', 'r-latest'],
    unusableKeys: [`${labelsOnly}/resource`, noDigest, 'images/_aliases/loop-a', 'images/_aliases/loop-b'],
    orphanStatKeys,
    accessKeys,
    managerToml,
  };
}
