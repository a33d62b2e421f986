/**
 * A deployment installed the way an operator's was (support/deployment-2303.ts): a fresh install by
 * the real backend.ai-manager 23.03.12's `mgr schema oneshot`, upgraded to 23.09 by bai-migrate's
 * migrate with the real 23.09.10, then years of data. Each case takes a clone of that base toward
 * 24.12.1 with the real packages from PyPI (manager-venv), and every expected value is computed from
 * the seed or read from the servers, never taken from bai-migrate.
 *
 * 23.03.12's `mgr schema oneshot` as an operator types it fails on any database (its group's
 * callback takes an argument click never passes); the base is made by the same command of the same
 * release run past that callback (ONESHOT_2303_BROKEN says what it prints).
 *
 * Here: what preflight says and refuses; long-lived-2303.test.ts migrates and rehearses the same base.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from '../support/deployment.js';
import { entries, failures, modelStoreMembers, noSecrets, OTHER_DOMAIN_USERS, stateOf, type Base2303, useDeployment2303 } from '../support/deployment-2303.js';
import { REHEARSAL_FINDS_IT } from '../../src/steps/step.js';
import { runEngine } from '../support/run.js';
import { latestRelease } from '../../src/releases/releases.js';
import { DOWNGRADE_TO } from '../../src/hops/24.09-24.12/facts.js';
import type { Report } from '../../src/core/report/index.js';
import { workerTestbed } from '../support/worker-testbed.js';
import { catalogueDifferences, catalogueOf, type Catalogue } from '../support/schema-catalogue.js';

const info = workerTestbed();
const { admin: adminOf, base: baseOf, clone, productVenvs, toward2412 } = useDeployment2303(info);
let admin: Admin;
let base: Base2303;
let PRODUCT_VENVS: string;
beforeAll(() => {
  admin = adminOf();
  base = baseOf();
  PRODUCT_VENVS = productVenvs();
});

/** 23.09.10's own models made into an empty database by SQLAlchemy's create_all, what `mgr schema oneshot` does, in the venv preflight made. */
const CREATE_ALL = `
import asyncio, os
from sqlalchemy.ext.asyncio import create_async_engine
import ai.backend.manager.models
from ai.backend.manager.models.base import metadata
async def main():
    engine = create_async_engine(os.environ["REFERENCE_URL"])
    async with engine.begin() as conn:
        await conn.exec_driver_sql('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
asyncio.run(main())
`;
let reference: Catalogue | undefined;

/** The catalogue of a database made from 23.09.10's models: what the comparison should find the clone differs from. */
async function referenceCatalogue(): Promise<Catalogue> {
  if (reference) return reference;
  const database = `ref2309_${randomBytes(3).toString('hex')}`;
  await admin.pg.query(`CREATE DATABASE ${database}`);
  try {
    const { host, port, user, password } = info.postgres;
    execFileSync(join(PRODUCT_VENVS, '23.09.10', 'bin', 'python'), ['-c', CREATE_ALL], {
      env: { PATH: process.env.PATH, REFERENCE_URL: `postgresql+asyncpg://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}` },
      stdio: 'pipe',
    });
    const pgModule = (await import('pg')).default;
    const client = new pgModule.Client({ host, port, user, password, database });
    await client.connect();
    try {
      reference = await catalogueOf(client);
    } finally {
      await client.end();
    }
    return reference;
  } finally {
    await admin.pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

/** The warning of the drift check's comparison with 23.09.10's models, and the names it lists. */
const modelWarning = (report: Report) => entries(report, 'preflight', 'schema').filter((e) => e.status === 'warning' && e.detail.startsWith("differences from 23.09.10's models"));

describe('preflight toward 24.12.1 refuses, naming what blocks, before anything is written', () => {
  it('an image of the local registry with a project path (local/<project>/<name>): 24.09’s 1d42c726d8a3 would stop with MultipleResultsFound; preflight names the image and etcd’s local registry', async () => {
    const c = await clone();
    const image = 'local/vision-team/notebook:1.0';
    // As 23.09 stores an image built on an agent and tagged under a project path.
    await c.pg.query(
      `INSERT INTO images (id, name, image, tag, registry, architecture, config_digest, size_bytes, type, labels, resources, is_local)
       VALUES (gen_random_uuid(), $1, 'vision-team/notebook', '1.0', 'local', 'x86_64', $2, 1, 'COMPUTE', '{}', '{}', true)`,
      [image, `sha256:${createHash('sha256').update(image).digest('hex')}`],
    );
    const before = await stateOf(admin, c);
    const { report } = await runEngine(toward2412(c, 'preflight'));
    expect(report.outcome).toBe('failure');
    expect(failures(report)).toEqual([['24.03 → 24.09', 'container-registries']]);
    const refusal = entries(report, 'preflight', 'container-registries').find((e) => e.status === 'failed')!.detail;
    // The local registry's own row and one the revision makes for the image's project: two of type local.
    const [registry, project] = image.split('/');
    expect(refusal).toMatch(/^1d42c726d8a3 would stop with MultipleResultsFound, rolling the upgrade back: it makes 2 container_registries rows of type local /);
    expect(refusal).toContain(`(${registry} (0 images); ${registry}/${project} (1 image))`);
    expect(refusal).toContain(`images named after the local registry ${registry} with a path under it (${image})`);
    expect(refusal).toContain(`Move etcd config/docker/registry/${registry} aside before migrating`);
    expect(refusal).toContain(REHEARSAL_FINDS_IT);
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);

  it('no project resource policy "default": 24.03’s 308bcecec5c2 would stop on its foreign key; preflight names the policy and the ones there are', async () => {
    const c = await clone();
    await c.pg.query(`UPDATE groups SET resource_policy = 'team' WHERE resource_policy = 'default'`);
    await c.pg.query(`DELETE FROM project_resource_policies WHERE name = 'default'`);
    const { rows: policies } = await c.pg.query<{ name: string }>('SELECT name FROM project_resource_policies ORDER BY name');
    const before = await stateOf(admin, c);
    const { report } = await runEngine(toward2412(c, 'preflight'));
    expect(report.outcome).toBe('failure');
    expect(failures(report)).toEqual([['23.09 → 24.03', 'model-store-project']]);
    expect(entries(report, 'preflight', 'model-store-project').map((e) => e.detail)).toEqual([
      `308bcecec5c2 (24.03.11) would stop the upgrade on fk_groups_resource_policy_project_resource_policies: it gives the project model-store the project resource policy "default", which does not exist (policies: ${policies.map((p) => p.name).join('; ')}). Create it before migrating, as 23.03's a9eb2b002330 seeds it: INSERT INTO project_resource_policies (name, max_vfolder_size) VALUES ('default', -1). ${REHEARSAL_FINDS_IT}`,
    ]);
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);

  it('schema drift: a foreign key 24.03’s 59a622c31820 drops, lost by a restore; preflight renders the path’s revisions in their own venvs, names the revision and the constraint, and writes nothing', async () => {
    const c = await clone();
    await c.pg.query('ALTER TABLE vfolders DROP CONSTRAINT fk_vfolders_user_users');
    const before = await stateOf(admin, c);
    const { report } = await runEngine(toward2412(c, 'preflight'));
    expect(report.outcome).toBe('failure');
    expect(failures(report)).toEqual([['23.09 → 24.03', 'schema']]);
    const refusal = entries(report, 'preflight', 'schema').find((e) => e.status === 'failed')!.detail;
    expect(refusal).toMatch(
      /^schema drift: 24\.03\.11's 59a622c31820 would stop: it drops constraint fk_vfolders_user_users of vfolders, which the database does not have \(ALTER TABLE vfolders DROP CONSTRAINT fk_vfolders_user_users\)\. PostgreSQL would roll 23\.09 → 24\.03 back there\./,
    );
    expect(refusal).toContain(REHEARSAL_FINDS_IT);
    // The lost foreign key is said once, as the stop; the comparison with the models does not repeat it.
    expect(
      modelWarning(report)
        .map((e) => e.detail)
        .join('\n'),
    ).not.toContain('fk_vfolders_user_users');
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);
});

describe('differences from 23.09.10’s models that no revision on the path stops on are warnings', () => {
  it('a hand-made index and a column made nullable by hand: preflight names both beside what the install left, passes, and writes nothing', async () => {
    const c = await clone();
    await c.pg.query('CREATE INDEX ix_hand_made_users_created ON users (created_at)');
    await c.pg.query('ALTER TABLE scaling_groups ALTER COLUMN driver DROP NOT NULL');
    const before = await stateOf(admin, c);
    const { report } = await runEngine(toward2412(c, 'preflight'));
    expect(report.error).toBeUndefined();
    expect(failures(report)).toEqual([]);
    const expected = catalogueDifferences(await catalogueOf(c.pg), await referenceCatalogue());
    expect(expected).toEqual(expect.arrayContaining(['index ix_hand_made_users_created', 'column scaling_groups.driver']));
    const warned = modelWarning(report).map((e) => e.detail);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(`no revision on the path stops on (${expected.length}): `);
    expect(warned[0]).toContain('index ix_hand_made_users_created on users is in the database, not in the models');
    expect(warned[0]).toContain('column scaling_groups.driver is nullable in the database, NOT NULL in the models');
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);
});

describe('what preflight says of the clean clone toward 24.12.1', () => {
  it('plans from 23.09 (read from the database), predicts the registry rows and the model-store members from the seed, and says 24.09 → 24.12 downgrades with 24.09.14 to e9e574a6e22d, then upgrades with 24.12.1; writes nothing', async () => {
    const c = await clone();
    const before = await stateOf(admin, c);
    const { report } = await runEngine(toward2412(c, 'preflight'));
    expect(report.error).toBeUndefined();
    expect(report.fromVersion).toBe('23.09');
    expect(report.currentRevision).toBe(latestRelease('23.09').head);
    expect(report.plan.map((h) => h.hop)).toEqual(['23.09 → 24.03', '24.03 → 24.09', '24.09 → 24.12']);
    // The venvs of the hops' releases; 23.09.10's, where the database already is, only for the comparison with its models.
    const venvs = entries(report, 'setup', 'manager-venv').map((e) => e.detail);
    expect(venvs.filter((v) => v.includes('23.09.10'))).toEqual([
      expect.stringMatching(/; 23\.09\.10's models are compared with the live schema from it \(the drift check\); its alembic runs nothing$/),
    ]);

    // 308bcecec5c2: every user of the domain "default", whatever its status; the other domain's are not counted.
    const { rows: counted } = await c.pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE domain_name = 'default'`);
    const { total, others } = modelStoreMembers();
    expect(counted[0]!.n).toBe(total);
    expect(base.seed.defaultDomainUsers).toBe(total);
    expect((await c.pg.query<{ n: number }>('SELECT count(*)::int AS n FROM users')).rows[0]!.n).toBe(total + OTHER_DOMAIN_USERS);
    expect(entries(report, 'preflight', 'model-store-project').map((e) => e.detail)).toEqual([
      `308bcecec5c2 will add the project model-store (type model-store) to the domain "default" with the resource policy "default", and make all ${total} user(s) of that domain members, ${others} among them`,
    ]);

    // 1d42c726d8a3: the rows of every registry and project in etcd, and the one it makes by itself.
    const rows = base.seed.registryRows;
    const shown = rows.slice(0, 5).join('; ') + (rows.length > 5 ? `; and ${rows.length - 5} more` : '');
    const registries = entries(report, 'preflight', 'container-registries').map((e) => [e.status, e.detail]);
    expect(registries).toContainEqual([
      'ok',
      `${base.seed.registries} registries in etcd config/docker/registry/ and ${base.seed.images} image(s) become ${rows.length} container_registries row(s): ${shown}`,
    ]);
    expect(registries).toContainEqual([
      'warning',
      expect.stringMatching(
        new RegExp(
          `^1d42c726d8a3 also makes ${base.seed.automaticRows.length} row\\(s\\) by itself, without credentials, for images whose project no registry in etcd lists: ${base.seed.automaticRows.map((r) => `${r.replace(/[.]/g, '\\.')} \\(1 image\\)`).join('; ')};`,
        ),
      ),
    ]);

    // 24.09 → 24.12: 24.09.14's own alembic down to e9e574a6e22d, then 24.12.1's up to its head.
    const hop = entries(report, 'preflight', 'schema', '24.09 → 24.12').map((e) => e.detail);
    expect(hop[0]).toBe(
      `from ${latestRelease('24.09').head}, where the hops before 24.09 → 24.12 leave it; 24.12.1's migration scripts do not have ${latestRelease('24.09').head}, so 24.09's alembic will first downgrade to ${DOWNGRADE_TO}, then 24.12.1's upgrade to ${latestRelease('24.12').head}`,
    );
    expect(hop.slice(1)).toEqual([
      expect.stringMatching(new RegExp(`^alembic runs: "${PRODUCT_VENVS}/24\\.12\\.1/bin/python -m alembic" .* knows revision ${latestRelease('24.12').head}$`)),
      expect.stringMatching(new RegExp(`^24\\.09's alembic runs: "${PRODUCT_VENVS}/24\\.09\\.14/bin/python -m alembic" .* knows revision ${DOWNGRADE_TO}$`)),
    ]);
    // Every revision of the three hops (24.09.14's downgrade among them) played over the live schema: no drift.
    expect(entries(report, 'preflight', 'schema', '23.09 → 24.03').map((e) => e.detail)).toContainEqual(
      expect.stringMatching(/^schema drift: none; \d+ revision\(s\) on the path played over the live schema/),
    );
    // What 23.09.10's models describe and this install does not (read from the catalogues, not from bai-migrate): each is a warning.
    const expected = catalogueDifferences(await catalogueOf(c.pg), await referenceCatalogue());
    expect(expected.length).toBeGreaterThan(0);
    const warned = modelWarning(report);
    expect(warned).toHaveLength(1);
    expect(warned[0]!.detail).toContain(`no revision on the path stops on (${expected.length}): `);
    for (const difference of expected) expect(warned[0]!.detail).toContain(difference.split(' ').pop()!);
    expect(entries(report, 'preflight', 'schema', '23.09 → 24.03').map((e) => e.detail)).toContainEqual(
      expect.stringContaining(`compared with 23.09.10's models: ${expected.length} other difference(s), warned about`),
    );
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);
});
