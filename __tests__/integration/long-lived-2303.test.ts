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
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { Admin } from '../support/deployment.js';
import { HARBOR_PASSWORD, MANAGER_SECRET, ONESHOT_2303_BROKEN, OTHER_DOMAIN_USERS, stateOf, USERS_BY_STATUS, type Base2303, type Clone2303, useDeployment2303 } from '../support/deployment-2303.js';
import { ranRealPackage } from '../support/real-lines.js';
import { REHEARSAL_FINDS_IT } from '../../src/steps/step.js';
import { runEngine } from '../support/run.js';
import { latestRelease } from '../../src/releases/releases.js';
import { DOWNGRADE_TO } from '../../src/hops/24.09-24.12/facts.js';
import type { Report } from '../../src/core/report/index.js';

const info = inject('testbed');
const { admin: adminOf, base: baseOf, clone, productVenvs, pythons, python312 } = useDeployment2303(info);
let admin: Admin;
let base: Base2303;
let PRODUCT_VENVS: string;
beforeAll(() => {
  admin = adminOf();
  base = baseOf();
  PRODUCT_VENVS = productVenvs();
});

/** Toward 24.12.1 with the real packages; from-version is not given: it is read from the database. */
function toward2412(c: Clone2303, command: 'preflight' | 'migrate') {
  return {
    command,
    'to-version': '24.12',
    'manager-config': c.managerToml,
    'manager-venv': PRODUCT_VENVS,
    python: pythons(),
    'backup-dir': mkdtempSync(join(tmpdir(), 'bai-2303-backup-')),
  };
}

const entries = (report: Report, phase: string, step: string, hop?: string) => report.entries.filter((e) => e.phase === phase && e.step === step && (hop === undefined || e.hop === hop));
const failures = (report: Report) => report.entries.filter((e) => e.status === 'failed').map((e) => [e.hop, e.step]);
const noSecrets = (report: Report) => {
  const text = JSON.stringify(report);
  expect(text).not.toContain(MANAGER_SECRET);
  expect(text).not.toContain(HARBOR_PASSWORD);
};

describe('a 23.03.12 oneshot install, upgraded to 23.09 by the real 23.09.10 and seeded with years of data, toward 24.12.1', () => {
  it('the base: 23.03.12’s `mgr schema oneshot` as typed fails on its group callback; the same command past it makes the schema, and migrate with 23.09.10 takes it to 23.09’s head', () => {
    expect(base.oneshot.cli.exitCode).not.toBe(0);
    expect(base.oneshot.cli.stderr).toContain(ONESHOT_2303_BROKEN);
    expect(base.oneshot.oneshot.stderr).toContain('Detected a fresh new database.');
    expect(entries(base.upgrade, 'apply', 'schema').map((e) => e.detail)).toEqual([`alembic upgrade ${latestRelease('23.03').head} → ${latestRelease('23.09').head} (23.09.11)`]);
  });
});

/** 308bcecec5c2 counts every user of the domain "default"; what the seed put there, by status, in the order the check reads them (by status). */
function modelStoreMembers(): { total: number; others: string } {
  const total = Object.values(USERS_BY_STATUS).reduce((a, b) => a + b, 0);
  const others = Object.entries(USERS_BY_STATUS)
    .filter(([status]) => status !== 'active')
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  return { total, others };
}

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
    // The venvs of the hops' releases; none of 23.09, where the database already is.
    const venvs = entries(report, 'setup', 'manager-venv').map((e) => e.detail);
    expect(venvs.join('\n')).not.toContain('23.09.10');

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
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);
});

describe('migrate of the clean clone to 24.12.1, then clear-history with the real 24.12.1 manager', () => {
  it('migrate makes no 23.09.10 venv, 1d42c726d8a3 makes exactly the predicted rows, the model-store project gets every user of "default"; the manager’s clear-history then stops on fk_routings_session_sessions and the report names it, without SQL, with what it had deleted per table', async () => {
    const c = await clone();
    const inputs = toward2412(c, 'migrate');
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    expect(report.fromVersion).toBe('23.09');
    expect(
      entries(report, 'setup', 'manager-venv')
        .map((e) => e.detail)
        .join('\n'),
    ).not.toContain('23.09.10');
    expect((await c.pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: latestRelease('24.12').head }]);
    expect(entries(report, 'apply', 'schema', '24.09 → 24.12').map((e) => e.detail)).toEqual([
      `24.09's alembic downgrade to ${DOWNGRADE_TO}; then alembic upgrade ${DOWNGRADE_TO} → ${latestRelease('24.12').head} (24.12.1)`,
    ]);
    ranRealPackage('24.03.11', 'alembic on a 23.03.12 oneshot install');
    ranRealPackage('24.09.14', 'alembic (1d42c726d8a3) on a 23.03.12 oneshot install, downgrade to e9e574a6e22d');
    ranRealPackage('24.12.1', 'alembic upgrade on a 23.03.12 oneshot install');

    const { rows: made } = await c.pg.query<{ row: string }>(`SELECT registry_name || CASE WHEN project IS NULL THEN ' (local)' ELSE '/' || project END AS row FROM container_registries ORDER BY 1`);
    expect(made.map((r) => r.row)).toEqual([...base.seed.registryRows].sort());
    const predicted = entries(report, 'preflight', 'container-registries').find((e) => / become \d+ container_registries row/.test(e.detail))!.detail;
    expect(predicted).toContain(`become ${made.length} container_registries row(s)`);
    expect((await c.pg.query('SELECT count(*)::int AS n FROM images WHERE registry_id IS NULL')).rows).toEqual([{ n: 0 }]);
    const { rows: store } = await c.pg.query<{ members: number }>(
      `SELECT (SELECT count(*)::int FROM association_groups_users a WHERE a.group_id = g.id) AS members FROM groups g WHERE g.type::text = 'model-store'`,
    );
    expect(store).toEqual([{ members: modelStoreMembers().total }]);

    // Years of history; a year's retention reaches the sessions a destroyed model service's routings still name.
    const count = async (table: string, made: string) => (await c.pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${made} < now() - interval '365 days'`)).rows[0]!.n;
    const all = async () => ({
      kernels: (await c.pg.query<{ n: number }>('SELECT count(*)::int AS n FROM kernels')).rows[0]!.n,
      sessions: (await c.pg.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions')).rows[0]!.n,
      error_logs: (await c.pg.query<{ n: number }>('SELECT count(*)::int AS n FROM error_logs')).rows[0]!.n,
    });
    expect(await count('sessions', 'terminated_at')).toBeGreaterThan(0);
    const { rows: routedOld } = await c.pg.query<{ id: string }>(
      `SELECT r.session::text AS id FROM routings r JOIN sessions s ON s.id = r.session WHERE s.terminated_at < now() - interval '365 days'`,
    );
    expect(routedOld.length).toBeGreaterThan(0);
    const before = await all();
    const cleared = await runEngine({
      command: 'clear-history',
      mode: 'manager',
      retention: '365d',
      'manager-config': c.managerToml,
      'manager-venv': PRODUCT_VENVS,
      'to-version': '24.12.1',
      python: python312(),
    });
    const after = await all();
    ranRealPackage('24.12.1', 'mgr clear-history');
    const deleted = { kernels: before.kernels - after.kernels, sessions: before.sessions - after.sessions, error_logs: before.error_logs - after.error_logs };
    const error = cleared.report.error ?? '';
    expect(cleared.report.outcome).toBe('failure');
    expect(error).toContain('fk_routings_session_sessions');
    expect(error).toMatch(/(IntegrityError|ForeignKeyViolationError)/);
    expect(error).toContain(`before it failed, it had deleted ${deleted.kernels} kernel row(s), ${deleted.sessions} session row(s), ${deleted.error_logs} error log row(s)`);
    // No SQL, no parameters, no row's key.
    expect(error).not.toMatch(/\[SQL:|\[parameters:|DELETE FROM|SELECT /);
    for (const { id } of routedOld) expect(JSON.stringify(cleared.report)).not.toContain(id);
    noSecrets(cleared.report);
  }, 1_800_000);
});
