/**
 * A rehearsal neither hides nor invents a failure. For every hop bai-migrate takes, on the
 * deployment the hop-contract suite seeds at its source (support/hop-rigs.ts), with a secret
 * planted in every free-text column of every table the snapshot carries: the snapshot changes
 * nothing and holds none of them, its rehearsal succeeds and the real migrate of the same
 * deployment succeeds, step for step. Where the hop has hazards preflight knows (seeded after the
 * secrets, as their own suites seed them), first the rehearsal refuses in the same preflight step,
 * on the same rows, as the real migrate, also where the redaction rewrites the rows' names; then,
 * with the hazards fixed as an operator would, both succeed.
 * One set of disposable servers serves every rehearsal (rehearse: rehearsal-servers: given).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { snapshotState, useDeployments, type TestDeployment } from '../support/deployment.js';
import { hopInputs, useHopRigs } from '../support/hop-rigs.js';
import { encodings, NOT_PLANTED, plantSecrets } from '../support/real-2109.js';
import { runEngine, tempDir } from '../support/run.js';
import { localImageAvailable, LOCAL_IMAGE, SECRETS } from '../support/testbed.js';
import { HOPS, TABLES_STEPS_TOUCH } from '../../src/hops/index.js';
import { startServers, type DisposableServers } from '../../src/rehearsal/servers.js';
import { SNAPSHOT_ALLOWLIST } from '../../src/rehearsal/sanitize.js';
import type { Report } from '../../src/core/report/index.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);
const { rigFor } = useHopRigs(admin, info);

let servers: DisposableServers;
beforeAll(async () => {
  servers = await startServers({ line: '21.09', localImage: localImageAvailable() ? LOCAL_IMAGE : undefined });
}, 120_000);
afterAll(async () => servers?.stop());
// A migration turns AOF on and rewrites the config file: the next case starts from the servers as they were started.
afterEach(async () => {
  const redis = new Redis({ ...servers.redis, lazyConnect: true });
  try {
    await redis.connect();
    await redis.config('SET', 'appendonly', 'no');
    await redis.config('REWRITE');
  } finally {
    redis.disconnect();
  }
});

const given = () => ({
  'rehearsal-servers': 'given',
  'postgres-url': `postgresql://postgres:${servers.postgres.password}@${servers.postgres.host}:${servers.postgres.port}/postgres`,
  'redis-url': `redis://:${servers.redis.password}@${servers.redis.host}:${servers.redis.port}`,
  'etcd-endpoints': `${servers.etcd.host}:${servers.etcd.port}`,
});

/** The columns a snapshot carries as they are by design (the allowlist's copies), which no secret is planted in. */
const COPIED: ReadonlySet<string> = new Set(
  Object.entries(SNAPSHOT_ALLOWLIST).flatMap(([table, columns]) =>
    Object.entries(columns)
      .filter(([, allowed]) => allowed.rule === 'copy')
      .map(([column]) => `${table}.${column}`),
  ),
);

/** Every column on either side of a foreign key: a planted value would break the join (the snapshot pseudonymises or copies them as keys). */
async function foreignKeyColumns(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ column: string }>(
    `SELECT t.relname || '.' || a.attname AS column FROM pg_constraint c
       CROSS JOIN LATERAL (VALUES (c.conrelid, c.conkey), (c.confrelid, c.confkey)) AS side(rel, keys)
       JOIN pg_class t ON t.oid = side.rel JOIN pg_attribute a ON a.attrelid = side.rel AND a.attnum = ANY (side.keys)
      WHERE c.contype = 'f'`,
  );
  return rows.map((r) => r.column);
}

/** The tables a snapshot carries: those the steps touch (TABLES_STEPS_TOUCH) that exist, and every table they reference. */
async function carriedTables(client: pg.Client): Promise<string[]> {
  const { rows: existing } = await client.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
  const { rows: references } = await client.query<{ child: string; parent: string }>(
    `SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent FROM pg_constraint c WHERE c.contype = 'f'`,
  );
  const carried = new Set(TABLES_STEPS_TOUCH.filter((t) => existing.some((e) => e.name === t)));
  for (let grew = true; grew;) {
    grew = false;
    for (const { child, parent } of references) if (carried.has(child) && !carried.has(parent)) grew = Boolean(carried.add(parent));
  }
  return [...carried];
}

/**
 * Plants a secret in every free-text column of every row of every table the snapshot carries
 * (but the allowlist's copies, the emails and the foreign keys); returns them with the other
 * secrets the snapshot must not hold: the servers' passwords and the secret keys seeded before.
 */
async function plant(deployment: TestDeployment): Promise<{ secrets: string[]; tables: string[] }> {
  const tables = await carriedTables(deployment.pg);
  const keep = new Set([...COPIED, ...NOT_PLANTED, ...(await foreignKeyColumns(deployment.pg))]);
  const { rows } = await deployment.pg.query<{ secret_key: string }>('SELECT secret_key FROM keypairs');
  const planted = await plantSecrets(deployment.pg, tables, keep);
  expect(planted.length).toBeGreaterThan(100);
  return { secrets: [SECRETS.postgres, SECRETS.redis, ...rows.map((r) => r.secret_key), ...planted], tables };
}

/** Takes the snapshot and checks that it changed nothing and holds none of `secrets`, as they are, gunzipped, hex or base64; returns the file. */
async function snapshotWithout(deployment: TestDeployment, toml: string, planted: { secrets: string[]; tables: string[] }): Promise<string> {
  const before = await snapshotState(admin(), deployment);
  const file = join(tempDir(), 'snapshot.jsonl.gz');
  const { report } = await runEngine({ command: 'snapshot', 'manager-config': toml, 'snapshot-file': file });
  expect(report.error).toBeUndefined();
  expect(await snapshotState(admin(), deployment)).toEqual(before);
  const raw = readFileSync(file);
  const text = gunzipSync(raw).toString('utf8');
  // The snapshot carries the tables the secrets went into.
  expect(Object.keys(JSON.parse(text.split('\n')[0]!).postgres.rows).sort()).toEqual(expect.arrayContaining([...planted.tables].sort()));
  for (const secret of planted.secrets) {
    for (const form of encodings(secret)) expect(text.includes(form) || raw.includes(form), `secret ${secret.slice(0, 6)}… (as ${form.slice(0, 8)}…) in the snapshot`).toBe(false);
  }
  return file;
}

async function rehearse(inputs: Record<string, string>, file: string): Promise<Report> {
  const { report } = await runEngine({ ...inputs, ...given(), command: 'rehearse', 'snapshot-file': file, 'measure-growth': 'false' });
  return report;
}

const applied = (report: Report) => report.entries.filter((e) => e.phase === 'apply').map((e) => [e.step, e.status]);
const refusals = (report: Report) => report.entries.filter((e) => e.phase === 'preflight' && e.status === 'failed');

interface Hazard {
  readonly name: string;
  readonly hop: string;
  /** The preflight step that refuses it. */
  readonly step: string;
  /** Seeds the hazard into the hop's seeded deployment; returns the names it wrote that a snapshot may pseudonymise. */
  seed(deployment: TestDeployment): Promise<string[]>;
  /** What an operator does about it. */
  fix(deployment: TestDeployment): Promise<void>;
}

/** An image row as 24.03 and 24.09 hold them; `registry_id` only where the schema has the column (24.09). */
async function addImage(client: pg.Client, id: string, name: string): Promise<void> {
  const [registry, ...path] = name.split(':')[0]!.split('/');
  const { rowCount } = await client.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'images' AND column_name = 'registry_id'`);
  await client.query(
    `INSERT INTO images (id, name, image, tag, registry, architecture, config_digest, size_bytes, type, labels, resources${rowCount ? ', registry_id' : ''})
     VALUES ($1, $2, $3, $4, $5, 'x86_64', repeat('2', 72), 1, 'COMPUTE', '{}', '{}'${rowCount ? ', gen_random_uuid()' : ''})`,
    [id, name, path.join('/'), name.split(':')[1], registry],
  );
}

const HAZARDS: readonly Hazard[] = [
  {
    // As 24.03's 308bcecec5c2 finds it (model-store-project.ts); the stand-in schema has only what its facts check.
    name: "no project resource policy named default (308bcecec5c2's foreign key)",
    hop: '23.09 → 24.03',
    step: 'model-store-project',
    async seed({ pg: db }) {
      await db.query(`CREATE TABLE domains (name varchar(64) PRIMARY KEY)`);
      await db.query(`CREATE TABLE project_resource_policies (name varchar(256) PRIMARY KEY, max_vfolder_size bigint)`);
      await db.query(`CREATE TABLE groups (id uuid PRIMARY KEY, name varchar(64), domain_name varchar(64) REFERENCES domains(name))`);
      await db.query(`CREATE TABLE IF NOT EXISTS users (id bigserial PRIMARY KEY)`);
      await db.query(`ALTER TABLE users ADD COLUMN domain_name varchar(64) REFERENCES domains(name), ADD COLUMN status text`);
      await db.query(`INSERT INTO domains VALUES ('default')`);
      await db.query(`INSERT INTO project_resource_policies VALUES ('gpu-team', -1)`);
      await db.query(`INSERT INTO groups VALUES ('00000000-0000-4000-8000-0000000000b1', 'research', 'default')`);
      await db.query(`INSERT INTO users (domain_name, status) VALUES ('default', 'active')`);
      return ['gpu-team', 'research'];
    },
    async fix({ pg: db }) {
      await db.query(`INSERT INTO project_resource_policies VALUES ('default', -1)`);
    },
  },
  {
    // As container-registries.test.ts seeds it: 1d42c726d8a3 would make a second local row.
    name: 'an image of a local registry with a project path (1d42c726d8a3 stops on MultipleResultsFound)',
    hop: '24.03 → 24.09',
    step: 'container-registries',
    async seed(deployment) {
      const etcd = admin().etcd.namespace(`/sorna/${deployment.namespace}/`);
      await etcd.put('config/docker/registry/local').value('http://localhost');
      await etcd.put('config/docker/registry/local/type').value('local');
      await addImage(deployment.pg, '00000000-0000-4000-8000-00000000000c', 'local/research/trainer:1');
      return [];
    },
    async fix(deployment) {
      await admin().etcd.namespace(`/sorna/${deployment.namespace}/`).delete().prefix('config/docker/registry/local');
    },
  },
  {
    // As container-registries.test.ts seeds it: d7df3baf3779 cannot give the orphan a domain.
    name: 'a vfolder whose user and group are both gone (d7df3baf3779 stops on its NOT NULL)',
    hop: '24.03 → 24.09',
    step: 'vfolder-domains',
    async seed({ pg: db }) {
      // The columns d7df3baf3779 reads, as 24.03 has them, beside what the stand-in's schema facts check.
      await db.query(`CREATE TABLE IF NOT EXISTS users (id bigserial PRIMARY KEY)`);
      await db.query(`ALTER TABLE users ADD COLUMN uuid uuid UNIQUE, ADD COLUMN domain_name varchar(64)`);
      await db.query(`CREATE TABLE IF NOT EXISTS groups (id uuid PRIMARY KEY)`);
      await db.query(`ALTER TABLE groups ADD COLUMN IF NOT EXISTS domain_name varchar(64)`);
      await db.query(`CREATE TABLE vfolders (id uuid PRIMARY KEY, name varchar(64), "user" uuid, "group" uuid)`);
      await db.query(`INSERT INTO users (uuid, domain_name) VALUES ('00000000-0000-4000-8000-0000000000a1', 'default')`);
      await db.query(`INSERT INTO groups (id, domain_name) VALUES ('00000000-0000-4000-8000-0000000000b1', 'default')`);
      await db.query(
        `INSERT INTO vfolders VALUES ('00000000-0000-4000-8000-000000000001', 'mine', '00000000-0000-4000-8000-0000000000a1', NULL),
                                    ('00000000-0000-4000-8000-000000000002', 'ours', NULL, '00000000-0000-4000-8000-0000000000b1'),
                                    ('00000000-0000-4000-8000-000000000003', 'orphan', '00000000-0000-4000-8000-0000000000ff', NULL)`,
      );
      return ['mine', 'ours', 'orphan'];
    },
    async fix({ pg: db }) {
      await db.query(`UPDATE vfolders SET "user" = '00000000-0000-4000-8000-0000000000a1' WHERE "user" = '00000000-0000-4000-8000-0000000000ff'`);
    },
  },
  {
    // As downgrade-guards.test.ts seeds it: 24.09.14's downgrade makes endpoints.image NOT NULL again.
    name: 'an endpoint without an image (the downgrade to e9e574a6e22d stops on its NOT NULL)',
    hop: '24.09 → 24.12',
    step: 'downgrade-guards',
    async seed({ pg: db }) {
      await addImage(db, '00000000-0000-4000-8000-00000000000a', 'cr.backend.ai/stable/python:3.9');
      await db.query(`CREATE TABLE endpoints (id uuid PRIMARY KEY, name varchar(512) NOT NULL, image uuid, lifecycle_stage text NOT NULL DEFAULT 'created')`);
      await db.query(
        `INSERT INTO endpoints VALUES ('00000000-0000-4000-8000-000000000e01', 'serving', '00000000-0000-4000-8000-00000000000a', 'created'),
                                     ('00000000-0000-4000-8000-000000000e02', 'old-model', NULL, 'destroyed')`,
      );
      return ['serving', 'old-model'];
    },
    async fix({ pg: db }) {
      await db.query(`DELETE FROM endpoints WHERE image IS NULL`);
    },
  },
  {
    // As downgrade-guards.test.ts seeds it: the downgrade shrinks vfolders.name back to 64 characters.
    name: 'a vfolder name over 64 characters (the downgrade to e9e574a6e22d shrinks the column)',
    hop: '24.09 → 24.12',
    step: 'downgrade-guards',
    async seed({ pg: db }) {
      await db.query(`CREATE TABLE vfolders (id uuid PRIMARY KEY, name varchar(128) NOT NULL)`);
      await db.query(`INSERT INTO vfolders VALUES ('00000000-0000-4000-8000-000000000f01', 'data'), ('00000000-0000-4000-8000-000000000f02', repeat('n', 70))`);
      return ['data', 'n'.repeat(70)];
    },
    async fix({ pg: db }) {
      await db.query(`UPDATE vfolders SET name = left(name, 64)`);
    },
  },
];

const label = (hop: { from: string; to: string }) => `${hop.from} → ${hop.to}`;

describe.each(HOPS.map((hop) => [label(hop), hop] as const))('hop %s', (name, hop) => {
  const hazards = HAZARDS.filter((h) => h.hop === name);
  const title =
    hazards.length === 0
      ? 'a rehearsal of a snapshot without secrets succeeds, as the real migrate of its source does, step for step'
      : `with ${hazards.map((h) => h.name).join(', and ')}: the rehearsal refuses in the same preflight step, on the same rows, as the real migrate; once fixed, both succeed, step for step`;
  it(title, { timeout: 300_000 }, async () => {
    const rig = await rigFor(hop);
    const deployment = await deploy(rig.seed);
    const toml = deployment.writeManagerToml();
    // The secrets first, then the hazards' rows as seeded (a planted value would overwrite the names they hinge on).
    const planted = await plant(deployment);
    const names: string[] = [];
    for (const hazard of hazards) names.push(...(await hazard.seed(deployment)));
    const inputs = hopInputs(hop, toml, rig);

    if (hazards.length > 0) {
      const rehearsal = await rehearse(inputs, await snapshotWithout(deployment, toml, planted));
      const real = await runEngine(inputs);
      expect([real.report.outcome, rehearsal.outcome]).toEqual(['failure', 'failure']);
      for (const hazard of hazards) expect(refusals(real.report).map((e) => e.step)).toContain(hazard.step);
      // The same refusals, in the same words but for the names the snapshot rewrote
      // (as seeded and as pseudonyms, they are left out of both; a neutralised name is empty).
      const shape = (detail: string) => names.reduce((text, seeded) => text.replaceAll(seeded, ''), detail.replace(/\bu-[0-9a-f]{12,}\b/g, ''));
      expect(refusals(rehearsal).map((e) => [e.step, shape(e.detail)])).toEqual(refusals(real.report).map((e) => [e.step, shape(e.detail)]));
      // Both refused in preflight: the real migrate wrote nothing, and the rehearsal stopped in its dry run.
      expect(rehearsal.errorCode).toBe(real.report.errorCode);
      expect([applied(rehearsal), applied(real.report)]).toEqual([[], []]);
      expect(rehearsal.error).toMatch(/^the dry run failed in the rehearsal: /);
      for (const hazard of hazards) await hazard.fix(deployment);
    }

    const rehearsal = await rehearse(inputs, await snapshotWithout(deployment, toml, planted));
    const real = await runEngine(inputs);
    expect(real.report.error).toBeUndefined();
    expect(rehearsal.error).toBeUndefined();
    expect([rehearsal.outcome, rehearsal.targetRevision]).toEqual([real.report.outcome, real.report.targetRevision]);
    expect(rehearsal.entries.find((e) => e.step === 'result')?.status).toBe('ok');
    // Step for step: what the migrate changed, the rehearsal changed too.
    expect(applied(rehearsal)).toEqual(applied(real.report));
  });
});

it('every hazard is seeded on a hop bai-migrate takes', () => {
  expect(HAZARDS.filter((h) => !HOPS.some((hop) => label(hop) === h.hop))).toEqual([]);
});
