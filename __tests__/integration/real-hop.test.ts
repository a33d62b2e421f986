/**
 * 22.09 → 23.03 with Backend.AI's real packages from PyPI, end to end: a deployment whose schema
 * the real 21.09.9 made and the real 22.09.23 upgraded (deploy2209), with data, is migrated by bai-migrate's migrate with manager-venv, which pip-installs the real 22.09.23
 * (for the downgrade) and 23.03.12 (for the upgrade) itself. Both install on bookworm's Python 3.11
 * (src/releases/manager-python.ts). This is the hop whose plain `alembic upgrade` would skip six
 * revisions of 23.03 (the sessions table among them).
 *
 * One deployment goes on from 22.09 to 24.12, as an operator's does: a run to 23.09, then on to
 * 24.03, 24.09 and 24.12. The product's venvs start empty each test run (one folder for the run's
 * files, productVenvs); pip's cache is the test bed's.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { snapshotState, useDeployments } from '../support/deployment.js';
import {
  productVenvs,
  copyKernels,
  ensureRealManagerVenv,
  expectedKept,
  historyKernels,
  managerAlembicIni,
  MANAGER_TOML_LOGGING,
  MANAGER_TOML_MANAGER,
  real2109Schema,
  real2109Template,
  runManagerCliInContainer,
  type RealManagerVenv,
} from '../support/real-manager.js';
import { runAlembic } from '../../src/manager/alembic.js';
import { runEngine } from '../support/run.js';
import { dryRunThenMigrate, expectVerifiedAndDone, rehearseVerified, snapshotWithoutSecrets } from '../support/real-runs.js';
import { storageProxyKeys } from '../support/installation-rows.js';
import { ranRealPackage } from '../support/real-lines.js';
import { COLUMNS_DROPPED, DOWNGRADE_TO } from '../../src/hops/22.09-23.03/index.js';
import { latestRelease } from '../../src/releases/releases.js';
import { pyenvInterpreters } from '../../src/manager/venv.js';
import { judgeGrowth } from '../../src/rehearsal/growth.js';
import { putHarbor } from '../support/etcd-registries.js';
import { rehearsalComment } from '../../src/core/report/index.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy, keepForLaterTests } = useDeployments(info);
let PRODUCT_VENVS: string;

let template2109: string;
let manager2209: RealManagerVenv;

beforeAll(async () => {
  PRODUCT_VENVS = productVenvs();
  template2109 = await real2109Template(await ensureRealManagerVenv('21.09.9'), admin(), info);
  manager2209 = await ensureRealManagerVenv('22.09.23');
}, 900_000);

/**
 * A long-lived 22.09.23 deployment: the real 21.09.9 schema (its own oneshot), seeded with
 * kernels, keypairs, agents and users, then taken to 22.09.23's head by 22.09.23's own alembic,
 * whose scripts carry 22.03's and 22.09's revisions with their data migrations (kernels.role is
 * back-filled from the images). 22.09.23's own `mgr schema` commands cannot make it: the group's
 * callback takes an argument click never passes (backend.ai@22.09.23:src/ai/backend/manager/cli/dbschema.py,
 * `def cli(args)`), and its alembic cannot replay from an empty database: f8a71c3bffa2 (2018) asks
 * a question on standard input.
 */
async function deploy2209() {
  const deployment = await deploy({ schemaOf: real2109Schema(template2109) });
  const dir = mkdtempSync(join(tmpdir(), 'bai-real-2209-'));
  writeFileSync(join(dir, 'alembic.ini'), managerAlembicIni('postgresql+asyncpg://unused@127.0.0.1:1/unused'));
  const alembic = { command: [join(manager2209.dir, 'bin', 'python'), '-m', 'alembic'], config: join(dir, 'alembic.ini'), driver: 'asyncpg' as const };
  await runAlembic(alembic, { ...info.postgres, database: deployment.database, source: 'test' }, ['upgrade', latestRelease('22.09').head]);
  return deployment;
}

/** Values the 23.03 upgrade would not give back by itself (it re-adds the columns empty, true, now() or from image labels). */
const KEPT = {
  'users.password_changed_at': `'2023-01-02T03:04:05Z'::timestamptz`,
  'agents.public_host': `'192.0.2.7'`,
  'scaling_groups.is_public': 'false',
  'kernels.role': `'SYSTEM'`,
} as const;

async function keptValues(client: import('pg').Client): Promise<Record<string, string[]>> {
  const values: Record<string, string[]> = {};
  for (const { table, column } of COLUMNS_DROPPED) {
    const { rows } = await client.query<{ value: string }>(`SELECT DISTINCT ${column}::text AS value FROM ${table} ORDER BY 1`);
    values[`${table}.${column}`] = rows.map((r) => r.value);
  }
  return values;
}

/** A long-lived 22.09.23 deployment whose kept columns hold values the upgrade would not give back, and what they hold. */
async function deployWithKeptValues() {
  const deployment = await deploy2209();
  for (const [name, value] of Object.entries(KEPT)) {
    const [table, column] = name.split('.');
    await deployment.pg.query(`UPDATE ${table} SET ${column} = ${value}`);
  }
  return { deployment, seeded: await keptValues(deployment.pg) };
}

/** The 22.09 → 23.09 case's deployment, which the next case takes on to 24.12. */
let at2309: { deployment: Awaited<ReturnType<typeof deploy2209>>; toml: string } | undefined;

/** migrate from 22.09 with the venvs bai-migrate makes from PyPI. */
function migrateFrom2209(toml: string, toVersion: string) {
  return {
    command: 'migrate',
    'from-version': '22.09',
    'to-version': toVersion,
    'manager-config': toml,
    'manager-venv': PRODUCT_VENVS,
    // Debian's, as on an operator's Debian runner (with libsnappy-dev: python-snappy has no cp311 wheel).
    python: '/usr/bin/python3.11',
    'backup-dir': mkdtempSync(join(tmpdir(), 'bai-real-hop-backup-')),
  };
}

describe('22.09.23 → 23.03.12 → 23.09.10 with the real packages (manager-venv, PyPI)', () => {
  it('22.09.23 → 23.09 in one run: each hop with its own release (22.09.23 downgrades to 3efd66393bd0, 23.03.12 upgrades, back-filling sessions and putting back the columns the downgrade drops, 23.09.10 upgrades), the RPC key pair made by 23.09’s CLI, a main keypair for every user', async () => {
    const { deployment } = await deployWithKeptValues();
    keepForLaterTests(deployment);
    // A user without a keypair: 23.09's d3f8c74bf148 makes one for it.
    await deployment.pg.query(`INSERT INTO users (uuid, username, email, status, role, domain_name) VALUES (gen_random_uuid(), 'nokeys', 'nokeys@example.com', 'active', 'user', 'default')`);
    const { rows: before } = await deployment.pg.query<{ users: string; keypairs: string }>(`SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM keypairs) AS keypairs`);
    // After the new user: its password_changed_at is kept and put back like the others'.
    const seeded = await keptValues(deployment.pg);
    const toml = deployment.writeManagerToml(MANAGER_TOML_LOGGING, { manager: MANAGER_TOML_MANAGER });
    const inputs = migrateFrom2209(toml, '23.09');
    // What an installation has that the manager reads when it starts: a storage proxy in etcd, agents that report their slots.
    const etcd = admin().etcd.namespace(`/sorna/${deployment.namespace}/`);
    for (const [key, value] of Object.entries(storageProxyKeys())) await etcd.put(key).value(value);
    await deployment.pg.query(`UPDATE agents SET available_slots = '{"cpu": "8", "mem": "34359738368"}', occupied_slots = '{"cpu": "0", "mem": "0"}'`);

    // The test's deployment is thrown away after it, as a rehearsal's copy is: the run ends with the real 23.09.10 manager serving on it.
    const run = await runEngine(inputs, undefined, { disposableCopy: true });
    expect(run.report.error).toBeUndefined();
    const proof = run.report.entries.filter((e) => e.phase === 'apply' && e.step === 'manager-starts');
    expect(proof.map((e) => e.status)).toEqual(['changed']);
    expect(proof[0]!.detail).toMatch(
      /^the 23\.09\.10 manager started on the copy in [\d.]+ s, answered GET \/ \(.*"manager": ?"23\.09\.10".*\), served a signed GraphQL query of users, vfolders, sessions and agents \(.*\), logged no error/,
    );
    ranRealPackage('23.09.10', 'start-server on the migrated deployment (manager-starts)');
    // 23.09.11 was never published: its venv holds 23.09.10, whose head is the same.
    const venvs = run.report.entries.filter((e) => e.step === 'manager-venv').map((e) => e.detail.replace(/ with .*?;/, ';').replace(PRODUCT_VENVS, '<venvs>'));
    expect(venvs).toEqual(
      expect.arrayContaining([expect.stringMatching(/<venvs>\/23\.09\.10/), expect.stringMatching(/<venvs>\/23\.03\.12.*22\.09 → 23\.03/), expect.stringMatching(/<venvs>\/22\.09\.23/)]),
    );
    expect(run.report.entries.filter((e) => e.phase === 'apply' && e.step === 'schema').map((e) => e.detail)).toEqual([
      `22.09's alembic downgrade to ${DOWNGRADE_TO}; then alembic upgrade ${DOWNGRADE_TO} → ${latestRelease('23.03').head} (23.03.12)`,
      `alembic upgrade ${latestRelease('23.03').head} → ${latestRelease('23.09').head} (23.09.11)`,
    ]);
    const { rows: revisions } = await deployment.pg.query<{ version_num: string }>('SELECT version_num FROM alembic_version');
    expect(revisions).toEqual([{ version_num: latestRelease('23.09').head }]);
    expect(await keptValues(deployment.pg)).toEqual(seeded);
    // b6b884fbae1f, which a plain upgrade would have skipped, made a session of every kernel's session.
    const { rows: sessions } = await deployment.pg.query<{ sessions: string; kernels: string }>(
      `SELECT (SELECT count(*) FROM sessions) AS sessions, (SELECT count(DISTINCT session_id) FROM kernels) AS kernels`,
    );
    expect(Number(sessions[0]!.sessions)).toBeGreaterThan(0);
    expect(sessions[0]!.sessions).toBe(sessions[0]!.kernels);
    ranRealPackage('22.09.23', 'alembic downgrade');
    ranRealPackage('23.03.12', 'alembic upgrade');
    // One new keypair, for the user that had none; every user has a main keypair.
    const { rows: after } = await deployment.pg.query<{ users: string; keypairs: string; without: string }>(
      `SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM keypairs) AS keypairs, (SELECT count(*) FROM users WHERE main_access_key IS NULL) AS without`,
    );
    expect(after[0]).toEqual({ users: before[0]!.users, keypairs: String(Number(before[0]!.keypairs) + 1), without: '0' });
    // The key pair 23.09 requires, made by its own CLI beside manager.toml and named there.
    const keyFile = join(dirname(toml), 'rpc-keypair', 'manager.key_secret');
    expect(readFileSync(toml, 'utf8')).toContain(`rpc-auth-manager-keypair = "${keyFile}"`);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/secret-key = "/);
    ranRealPackage('23.09.10', 'alembic upgrade, mgr generate-rpc-keypair');

    await expectVerifiedAndDone(inputs);

    // bai-migrate's own clear-history on the real 23.09 schema deletes what 23.09's manager does:
    // kernels terminated before the cutoff and their stat keys in Redis DB 0; the sessions stay.
    const kernelIds = async (where: string) => (await deployment.pg.query<{ id: string }>(`SELECT id::text FROM kernels WHERE ${where} ORDER BY id`)).rows.map((r) => r.id);
    const old = await kernelIds(`terminated_at < now() - interval '10 days'`);
    const kept = await kernelIds(`NOT (terminated_at < now() - interval '10 days') OR terminated_at IS NULL`);
    const { rows: sessionsBefore } = await deployment.pg.query('SELECT count(*) FROM sessions');
    expect(old.length).toBeGreaterThan(0);
    expect(
      await admin()
        .redis(0)
        .exists(...old),
    ).toBe(old.length);
    const cleared = await runEngine({ command: 'clear-history', 'manager-config': toml, retention: '10d' });
    expect(cleared.report.error).toBeUndefined();
    expect(await kernelIds('true')).toEqual(kept);
    expect(
      await admin()
        .redis(0)
        .exists(...old),
    ).toBe(0);
    expect(
      await admin()
        .redis(0)
        .exists(...kept),
    ).toBe(kept.length);
    expect((await deployment.pg.query('SELECT count(*) FROM sessions')).rows).toEqual(sessionsBefore);

    // Every venv is there now: a dry run of a fresh 22.09 deployment renders the real offline SQL of both hops, and writes nothing.
    const fresh = await deploy2209();
    const untouched = await snapshotState(admin(), fresh);
    const dry = await runEngine({ ...inputs, 'manager-config': fresh.writeManagerToml(MANAGER_TOML_LOGGING, { manager: MANAGER_TOML_MANAGER }), 'dry-run': 'true' });
    expect(dry.report.error).toBeUndefined();
    expect(await snapshotState(admin(), fresh)).toEqual(untouched);
    const rendered = dry.report.entries.filter((e) => e.phase === 'apply' && e.step === 'schema').map((e) => [e.hop, e.status, e.detail]);
    // The back-fills read the data they migrate: alembic cannot render them offline, and each is named.
    const cannot = (revisions: string[]) => `cannot be shown offline: ${revisions.map((r) => `${r} \\(AttributeError: [^)]+\\)`).join(', ')}$`;
    expect(rendered).toEqual([
      [
        '22.09 → 23.03',
        'warning',
        expect.stringMatching(
          new RegExp(
            `^dry run: would run alembic downgrade to ${DOWNGRADE_TO}, then upgrade d58a526bf837 → ae7d4cd92aa7: \\d+ SQL statement\\(s\\), shown in the report; 5 revision\\(s\\) .*${cannot(['b6b884fbae1f', 'bedd92de93af', '9e599b62f6f1', '69c059996cbd', 'eb9441fcf90a'])}`,
          ),
        ),
      ],
      // The second hop starts where the first will have left the schema, not where it is now.
      [
        '23.03 → 23.09',
        'warning',
        expect.stringMatching(
          new RegExp(
            `^dry run: would run alembic upgrade ae7d4cd92aa7 → 75ea2b136830: \\d+ SQL statement\\(s\\), shown in the report; 2 revision\\(s\\) .*${cannot(['85615e005fa3', 'd3f8c74bf148'])}`,
          ),
        ),
      ],
    ]);
    const sql = dry.report.attachments.filter((a) => a.step === 'schema').map((a) => a.content);
    expect(sql[0]).toContain('Running downgrade d58a526bf837 -> fdc9d6ac49b4');
    expect(sql[0]).toContain('CREATE TABLE endpoints');
    expect(sql[1]).toContain('Running upgrade ae7d4cd92aa7 -> 02535458c0b3');
    expect(sql[1]).not.toContain('210c4d9be768');
    at2309 = { deployment, toml };
  }, 1_800_000);

  it('the same deployment on to 24.03: 24.03.11, on pyenv’s Python 3.12, applies by id the six revisions a plain upgrade from 23.09 would skip, after the vfolders.status type gets the name its scripts use; then 24.09.14 moves the registries, and 24.12.1 takes over after 24.09.14’s downgrade', async () => {
    expect(at2309, 'the 22.09 → 23.09 case left no deployment at 23.09').toBeDefined();
    // Its manager.toml has what 24.09's loader requires besides (1d42c726d8a3 loads it): [logging], [docker-registry], num-proc within the machine's cores.
    const { deployment, toml } = at2309!;
    // One interpreter per Python the run's releases need: 23.09 on 3.11, 24.03 on 3.12.
    const python312 = pyenvInterpreters('3.12')[0];
    expect(python312, 'the machine has no Python 3.12 (pyenv) for 24.03').toBeDefined();
    const inputs = { ...migrateFrom2209(toml, '24.03'), 'from-version': '23.09', python: `/usr/bin/python3.11,${python312}` };

    // Schema drift: a foreign key that 24.03.11's 59a622c31820 drops, lost (by hand, or by a restore).
    // Preflight renders every revision of the path in its own release's venv, finds the stop and writes nothing.
    const { rows: fk } = await deployment.pg.query<{ definition: string }>(
      `SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conname = 'fk_vfolders_user_users' AND conrelid = 'vfolders'::regclass`,
    );
    expect(fk, '22.09.23 made vfolders.user a foreign key to users, and 23.03 and 23.09 kept it').toHaveLength(1);
    await deployment.pg.query('ALTER TABLE vfolders DROP CONSTRAINT fk_vfolders_user_users');
    const beforeDrift = await snapshotState(admin(), deployment);
    const drift = await runEngine({ ...inputs, command: 'preflight' });
    expect(drift.report.outcome).toBe('failure');
    expect(drift.report.entries.filter((e) => e.phase === 'preflight' && e.step === 'schema' && e.status === 'failed').map((e) => [e.hop, e.detail])).toEqual([
      [
        '23.09 → 24.03',
        expect.stringMatching(
          /^schema drift: 24\.03\.11's 59a622c31820 would stop: it drops constraint fk_vfolders_user_users of vfolders, which the database does not have \(ALTER TABLE vfolders DROP CONSTRAINT fk_vfolders_user_users\)\. PostgreSQL would roll 23\.09 → 24\.03 back there\..* A rehearsal of a nightly snapshot/,
        ),
      ],
    ]);
    expect(await snapshotState(admin(), deployment)).toEqual(beforeDrift);
    await deployment.pg.query(`ALTER TABLE vfolders ADD CONSTRAINT fk_vfolders_user_users ${fk[0]!.definition}`);

    const run = await runEngine(inputs);
    expect(run.report.error).toBeUndefined();
    // The same check on the intact schema: no stop on the path, its revisions played.
    expect(run.report.entries.find((e) => e.phase === 'preflight' && e.step === 'schema' && e.detail.startsWith('schema drift'))?.detail).toMatch(
      /^schema drift: none; \d+ revision\(s\) on the path played over the live schema/,
    );
    expect(run.report.entries.filter((e) => e.phase === 'apply' && e.step === 'schema').map((e) => [e.hop, e.status, e.detail])).toEqual([
      [
        '23.09 → 24.03',
        'changed',
        `applied 16 revision(s) by id (among them 308bcecec5c2, 3f47af213b05, 41f332243bf9, 5ba7fde56ddb, 7ff52ff68bfc, b86b341fd9c9, which alembic upgrade would skip); then alembic_version collapsed to ${latestRelease('24.03').head} (24.03.11)`,
      ],
    ]);
    // The column's type as alembic made it, renamed to what 24.03.11's 5ba7fde56ddb and 7ff52ff68bfc
    // alter and drop; without it they fail ("type vfolderoperationstatus does not exist").
    expect(run.report.entries.find((e) => e.phase === 'apply' && e.step === 'vfolder-status-type')?.detail).toBe(
      'renamed type vfolderstatus to vfolderoperationstatus (ALTER TYPE vfolderoperationstatus RENAME TO vfolderstatus undoes it)',
    );
    const { rows: status } = await deployment.pg.query(`SELECT data_type FROM information_schema.columns WHERE table_name = 'vfolders' AND column_name = 'status'`);
    expect(status).toEqual([{ data_type: 'character varying' }]);
    const { rows: revisions } = await deployment.pg.query<{ version_num: string }>('SELECT version_num FROM alembic_version');
    expect(revisions).toEqual([{ version_num: latestRelease('24.03').head }]);
    // What the six did, by 24.03.11's own scripts: groups.type (308bcecec5c2), vfolder indexes
    // (41f332243bf9), the resource policies' vfolder limits moved off keypair policies (b86b341fd9c9).
    const { rows } = await deployment.pg.query<{ fact: string }>(
      `SELECT 'groups.type' AS fact FROM information_schema.columns WHERE table_name = 'groups' AND column_name = 'type'
       UNION ALL SELECT 'ix_vfolders_host' FROM pg_indexes WHERE indexname = 'ix_vfolders_host'
       UNION ALL SELECT 'keypair_resource_policies.max_vfolder_count' FROM information_schema.columns WHERE table_name = 'keypair_resource_policies' AND column_name = 'max_vfolder_count'
       ORDER BY 1`,
    );
    expect(rows.map((r) => r.fact)).toEqual(['groups.type', 'ix_vfolders_host']);
    // What preflight said 308bcecec5c2 would make, it made: the model-store project and its members (23.03 seeded the policy on the way here).
    const predicted = run.report.entries.find((e) => e.phase === 'preflight' && e.step === 'model-store-project')?.detail ?? '';
    expect(predicted).toMatch(
      /^308bcecec5c2 will add the project model-store \(type model-store\) to the domain "default" with the resource policy "default", and make all \d+ user\(s\) of that domain members/,
    );
    const { rows: store } = await deployment.pg.query<{ domain: string; policy: string; members: number }>(
      `SELECT g.domain_name AS domain, g.resource_policy AS policy, (SELECT count(*)::int FROM association_groups_users a WHERE a.group_id = g.id) AS members FROM groups g WHERE g.type::text = 'model-store'`,
    );
    expect(store).toEqual([{ domain: 'default', policy: 'default', members: Number(/make all (\d+) user/.exec(predicted)![1]) }]);
    ranRealPackage('24.03.11', 'alembic (revisions applied by id), on Python 3.12');

    await expectVerifiedAndDone(inputs);

    // On to 24.09 with 24.09.14, whose 1d42c726d8a3 moves etcd's registries into PostgreSQL: a registry with two projects and credentials beside the seeded one.
    const etcd = admin().etcd.namespace(`/sorna/${deployment.namespace}/`);
    await putHarbor(etcd, deployment.pg);
    const to2409 = { ...inputs, 'from-version': '24.03', 'to-version': '24.09' };
    // 24.09's own loader judges manager.toml in preflight: the tests' plain one lacks what 24.09 requires.
    const refused = await runEngine({ ...to2409, command: 'preflight', 'manager-config': deployment.writeManagerToml() });
    expect(refused.report.entries.find((e) => e.step === 'container-registries' && e.status === 'failed')?.detail).toMatch(
      /^manager\.toml \(.+\) does not pass 24\.09's validation, which 1d42c726d8a3 loads it with: (.+; )?logging \(is required\)/,
    );
    const moved = await dryRunThenMigrate(admin(), deployment, to2409);
    const applied = (step: string) => moved.report.entries.find((e) => e.phase === 'apply' && e.step === step);
    expect(moved.report.entries.find((e) => e.phase === 'preflight' && e.step === 'container-registries' && e.detail.startsWith('manager.toml'))?.status).toBe('ok');
    // Preflight predicted exactly the rows the real revision then made, the local one it adds by itself among them.
    const predictedRows = moved.report.entries.find((e) => e.phase === 'preflight' && e.step === 'container-registries' && / become \d+ container_registries row/.test(e.detail))?.detail;
    expect(predictedRows).toMatch(/ become 4 container_registries row\(s\): cr\.backend\.ai\/stable; registry\.example\.com\/ml; registry\.example\.com\/research; local \(local\)$/);
    expect(applied('schema')?.detail).toMatch(
      /^applied \d+ revision\(s\) by id \(among them 31463788c713, c4b7ec740b36, d7df3baf3779, fdb2dcdb8811, which alembic upgrade would skip\); then alembic_version collapsed to /,
    );
    const { rows: registries } = await deployment.pg.query('SELECT registry_name, project, type::text AS type, username FROM container_registries ORDER BY registry_name, project');
    // The revision also makes a "local" row, for images whose name no registry and project starts; always, in
    // fact: mark_local_images_with_missing_registry_id tests the query's result object, not its rows.
    const { rows: local } = await deployment.pg.query<{ name: string }>(`SELECT i.name FROM images i JOIN container_registries r ON r.id = i.registry_id WHERE r.type::text = 'local'`);
    expect(registries).toEqual([
      { registry_name: 'cr.backend.ai', project: 'stable', type: 'harbor2', username: null },
      { registry_name: 'local', project: null, type: 'local', username: null },
      { registry_name: 'registry.example.com', project: 'ml', type: 'harbor2', username: 'robot' },
      { registry_name: 'registry.example.com', project: 'research', type: 'harbor2', username: 'robot' },
    ]);
    expect(local.filter((i) => /^(cr\.backend\.ai\/stable|registry\.example\.com\/(ml|research))\//.test(i.name))).toEqual([]);
    const { rows: linked } = await deployment.pg.query(
      `SELECT i.name, r.registry_name, r.project FROM images i JOIN container_registries r ON r.id = i.registry_id WHERE i.name = 'registry.example.com/research/llm:1.0'`,
    );
    expect(linked).toEqual([{ name: 'registry.example.com/research/llm:1.0', registry_name: 'registry.example.com', project: 'research' }]);
    expect((await deployment.pg.query('SELECT count(*)::int AS n FROM images WHERE registry_id IS NULL')).rows).toEqual([{ n: 0 }]);
    expect(await etcd.getAll().prefix('config/docker/registry/').keys()).toEqual([]);
    // The revision's own copy, where BACKEND_ETCD_BACKUP_PATH sent it.
    expect(readdirSync(to2409['backup-dir']).filter((f) => f.startsWith('backup.etcd.container-registries.'))).toHaveLength(1);
    expect(moved.report.entries.filter((e) => e.step === 'registries-moved' && e.phase === 'verify').map((e) => e.status)).toEqual(['ok', 'ok', 'ok']);
    ranRealPackage('24.09.14', 'alembic (revisions applied by id, 1d42c726d8a3 reading etcd through manager.toml), on Python 3.12');
    await expectVerifiedAndDone(to2409);

    // And to 24.12 with 24.12.1, whose scripts do not know 24.09.14's head: 24.09.14's own alembic downgrades to e9e574a6e22d first.
    await etcd.put('config/network/overlay/mtu').value('1450');
    const to2412 = { ...inputs, 'from-version': '24.09', 'to-version': '24.12' };
    const on = await dryRunThenMigrate(admin(), deployment, to2412);
    expect(on.report.entries.find((e) => e.phase === 'apply' && e.step === 'schema')?.detail).toBe(
      `24.09's alembic downgrade to e9e574a6e22d; then alembic upgrade e9e574a6e22d → ${latestRelease('24.12').head} (24.12.1)`,
    );
    expect((await deployment.pg.query<{ version_num: string }>('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: latestRelease('24.12').head }]);
    // 6e44ea67d26e: kernels.status is text now; 428215fddea3: endpoints.replicas.
    const { rows: columns } = await deployment.pg.query(
      `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE (table_name, column_name) IN (('kernels', 'status'), ('endpoints', 'replicas')) ORDER BY 1`,
    );
    expect(columns).toEqual([
      { table_name: 'endpoints', column_name: 'replicas', data_type: 'integer' },
      { table_name: 'kernels', column_name: 'status', data_type: 'character varying' },
    ]);
    expect(await etcd.get('config/plugins/network/overlay/mtu').string()).toBe('1450');
    expect(await etcd.get('config/network/overlay/mtu').string()).toBeNull();
    ranRealPackage('24.12.1', 'alembic upgrade after 24.09.14’s downgrade, on Python 3.12');
    await expectVerifiedAndDone(to2412);
  }, 2_400_000);

  it('a snapshot of a real 22.09.23 deployment holds none of the secrets planted in its free-text columns, and its rehearsal of 22.09 → 23.03 with the real packages ends verified', async () => {
    const deployment = await deploy2209();
    // Two years of history, a kernel every twelve hours: enough for the rehearsal to time a second size.
    await copyKernels(
      deployment.pg,
      Array.from({ length: 1_400 }, (_, i) => ({ id: randomUUID(), status: 'TERMINATED', terminatedAt: new Date(Date.now() - (i + 1) * 43_200_000).toISOString() })),
    );
    const kernels = Number((await deployment.pg.query<{ n: string }>('SELECT count(*) AS n FROM kernels')).rows[0]!.n);
    const toml = deployment.writeManagerToml(MANAGER_TOML_LOGGING, { manager: MANAGER_TOML_MANAGER });
    const file = await snapshotWithoutSecrets(deployment, toml);
    const rehearsal = await rehearseVerified('22.09', migrateFrom2209(toml, '23.03'), file);
    expect(rehearsal.entries.find((e) => e.phase === 'apply' && e.step === 'schema' && e.status === 'changed')?.detail).toBe(
      `22.09's alembic downgrade to ${DOWNGRADE_TO}; then alembic upgrade ${DOWNGRADE_TO} → ${latestRelease('23.03').head} (23.03.12)`,
    );
    // The real 23.03.12 revisions ran at two sizes: the snapshot's kernels, and about half of them.
    const growth = rehearsal.growth!;
    expect(growth.rows.full).toBe(kernels);
    expect(growth.rows.smaller).toBeGreaterThan(kernels * 0.4);
    expect(growth.rows.smaller).toBeLessThan(kernels * 0.6);
    const hop = growth.hops.find((h) => h.hop === '22.09 → 23.03')!;
    expect(hop.schemaFullMs).toBeGreaterThan(0);
    expect(hop.schemaSmallerMs).toBeGreaterThan(0);
    expect(hop.verdict).toBe(judgeGrowth(hop.fullMs, hop.smallerMs, growth.rows.full / growth.rows.smaller));
    // The plan of the full copy counted the rows the heavy revisions of 23.03 meet; the comment shows both.
    const sessions = rehearsal.forecast!.hops.find((h) => h.hop === '22.09 → 23.03')!.revisions.find((r) => r.revision === 'b6b884fbae1f')!;
    expect(sessions.rows).toEqual({ kernels: { count: kernels, estimated: false } });
    const { body } = rehearsalComment(rehearsal);
    expect(body).toContain(
      `| 22.09 → 23.03 | \`b6b884fbae1f\` | 23.03.0 | creates sessions from kernels with OFFSET paging of 100 rows | with the square of kernels | kernels ${kernels.toLocaleString('en-US')} |`,
    );
    expect(body).toContain('### Time against the data');
  }, 1_800_000);
});

describe('clear-history: the real backend.ai-manager 22.09.23 CLI and bai-migrate on the 22.09 schema', () => {
  /** A 22.09.23 deployment holding only `kernels`, and Redis DB 0 holding a stat key per kernel and one key that is no kernel's. */
  async function withHistory(kernels: ReturnType<typeof historyKernels>) {
    const deployment = await deploy2209();
    await copyKernels(deployment.pg, kernels);
    await deployment.pg.query('DELETE FROM kernels WHERE id <> ALL($1::uuid[])', [kernels.map((k) => k.id)]);
    const redis = admin().redis(0);
    await redis.flushdb();
    const stats = redis.pipeline();
    for (const { id } of kernels) stats.set(id, JSON.stringify({ cpu_util: { current: '12.5' } }));
    stats.set('keypair.concurrency_used.AKTEST00000000000001', '1');
    await stats.exec();
    return deployment;
  }
  const state = async (deployment: Awaited<ReturnType<typeof deploy2209>>) => ({
    kernels: (await deployment.pg.query<{ id: string }>('SELECT id::text FROM kernels ORDER BY id')).rows.map((r) => r.id),
    redisKeys: (await admin().redis(0).keys('*')).sort(),
  });

  it('the real `mgr clear-history -r 30d` and bai-migrate (mode: bai-migrate) leave the same kernel rows and the same Redis keys', async () => {
    const kernels = historyKernels();
    const kept = expectedKept(kernels);
    const expected = { kernels: kept, redisKeys: [...kept, 'keypair.concurrency_used.AKTEST00000000000001'].sort() };

    const one = await withHistory(kernels);
    const toml = one.writeManagerToml(MANAGER_TOML_LOGGING, { manager: MANAGER_TOML_MANAGER });
    const manager = await runManagerCliInContainer(manager2209, { dir: dirname(toml), managerToml: toml, alembicIni: '' }, ['mgr', 'clear-history', '-r', '30d']);
    expect(`${manager.stdout}\n${manager.stderr}`).not.toMatch(/Unexpected error while cleaning up redis history/);
    const byManager = await state(one);
    expect(byManager).toEqual(expected);
    ranRealPackage('22.09.23', 'mgr clear-history');

    const other = await withHistory(kernels);
    const { report } = await runEngine({ command: 'clear-history', mode: 'bai-migrate', 'manager-config': other.writeManagerToml(), retention: '30d' });
    expect(report.error).toBeUndefined();
    expect(report.history).toMatchObject({ kernels: kernels.length - kept.length, redisKeys: kernels.length - kept.length });
    expect(await state(other)).toEqual(byManager);
  }, 600_000);
});
