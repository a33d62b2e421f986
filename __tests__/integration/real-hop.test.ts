/**
 * 22.09 → 23.03 with Backend.AI's real packages from PyPI, end to end: a deployment whose schema
 * the real 21.09.9 made and the real 22.09.23 upgraded (deploy2209), with data, is migrated by bai-migrate's migrate with manager-venv, which pip-installs the real 22.09.23
 * (for the downgrade) and 23.03.12 (for the upgrade) itself. Both install on bookworm's Python 3.11
 * (src/releases/manager-python.ts). This is the hop whose plain `alembic upgrade` would skip six
 * revisions of 23.03 (the sessions table among them).
 *
 * The product's venvs are kept under /var/cache/bai-migrate/product-venvs between runs (reused by
 * their marker); pip's cache is the test bed's.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { snapshotState, useDeployments } from '../support/deployment.js';
import { BAI_CACHE, ensureRealManagerVenv, managerAlembicIni, real2109Schema, real2109Template, type RealManagerVenv } from '../support/real-manager.js';
import { runAlembic } from '../../src/manager/alembic.js';
import { runEngine, tempDir } from '../support/run.js';
import { encodings, NOT_PLANTED, plantSecrets } from '../support/real-2109.js';
import { localImageAvailable, LOCAL_IMAGE } from '../support/testbed.js';
import { startServers } from '../../src/rehearsal/servers.js';
import { ranRealPackage } from '../support/real-lines.js';
import { COLUMNS_DROPPED, DOWNGRADE_TO } from '../../src/hops/22.09-23.03/index.js';
import { latestRelease } from '../../src/releases/releases.js';

const info = inject('testbed');
const { admin, deploy } = useDeployments(info);
const PRODUCT_VENVS = join(BAI_CACHE, 'product-venvs');

let template2109: string;
let manager2209: RealManagerVenv;

beforeAll(async () => {
  // The product's pip shares the test bed's download cache.
  process.env.PIP_CACHE_DIR = join(BAI_CACHE, 'pip');
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

/** After a migrate: verify passes, and a second migrate changes nothing. */
async function expectVerifiedAndDone(inputs: Record<string, string>): Promise<void> {
  const verified = await runEngine({ ...inputs, command: 'verify' });
  expect(verified.report.error).toBeUndefined();
  const again = await runEngine(inputs);
  expect(again.report.error).toBeUndefined();
  expect(again.report.entries.filter((e) => e.phase === 'apply' && e.status === 'changed')).toEqual([]);
}

describe('22.09.23 → 23.03.12 → 23.09.10 with the real packages (manager-venv, PyPI)', () => {
  it('downgrades with 22.09.23 to 3efd66393bd0, upgrades with 23.03.12 (sessions back-filled), and puts back the columns the downgrade drops', async () => {
    const { deployment, seeded } = await deployWithKeptValues();
    const toml = deployment.writeManagerToml();
    const inputs = migrateFrom2209(toml, '23.03');

    const untouched = await snapshotState(admin(), deployment);
    const dry = await runEngine({ ...inputs, 'dry-run': 'true' });
    expect(dry.report.error).toBeUndefined();
    expect(await snapshotState(admin(), deployment)).toEqual(untouched);

    const run = await runEngine(inputs);
    expect(run.report.error).toBeUndefined();
    const schemaApply = run.report.entries.find((e) => e.phase === 'apply' && e.step === 'schema');
    expect(schemaApply?.detail).toBe(`22.09's alembic downgrade to ${DOWNGRADE_TO}; then alembic upgrade ${DOWNGRADE_TO} → ${latestRelease('23.03').head} (23.03.12)`);

    const { rows: revisions } = await deployment.pg.query<{ version_num: string }>('SELECT version_num FROM alembic_version');
    expect(revisions).toEqual([{ version_num: latestRelease('23.03').head }]);
    // b6b884fbae1f, which a plain upgrade would have skipped, made a session of every kernel's session.
    const { rows: sessions } = await deployment.pg.query<{ sessions: string; kernels: string }>(
      `SELECT (SELECT count(*) FROM sessions) AS sessions, (SELECT count(DISTINCT session_id) FROM kernels) AS kernels`,
    );
    expect(Number(sessions[0]!.sessions)).toBeGreaterThan(0);
    expect(sessions[0]!.sessions).toBe(sessions[0]!.kernels);
    expect(await keptValues(deployment.pg)).toEqual(seeded);
    ranRealPackage('22.09.23', 'alembic downgrade');
    ranRealPackage('23.03.12', 'alembic upgrade');

    await expectVerifiedAndDone(inputs);
  }, 1_800_000);

  it('22.09.23 → 23.09 in one run: each hop with its own release (22.09.23 down, 23.03.12 up, 23.09.10 up), the RPC key pair made by 23.09’s CLI, a main keypair for every user', async () => {
    const { deployment } = await deployWithKeptValues();
    // A user without a keypair: 23.09's d3f8c74bf148 makes one for it.
    await deployment.pg.query(`INSERT INTO users (uuid, username, email, status, role, domain_name) VALUES (gen_random_uuid(), 'nokeys', 'nokeys@example.com', 'active', 'user', 'default')`);
    const { rows: before } = await deployment.pg.query<{ users: string; keypairs: string }>(`SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM keypairs) AS keypairs`);
    // After the new user: its password_changed_at is kept and put back like the others'.
    const seeded = await keptValues(deployment.pg);
    const toml = deployment.writeManagerToml();
    const inputs = migrateFrom2209(toml, '23.09');

    const run = await runEngine(inputs);
    expect(run.report.error).toBeUndefined();
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

    // Every venv is there now: a dry run of a fresh 22.09 deployment renders the real offline SQL of both hops.
    const fresh = await deploy2209();
    const dry = await runEngine({ ...inputs, 'manager-config': fresh.writeManagerToml(), 'dry-run': 'true' });
    expect(dry.report.error).toBeUndefined();
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
  }, 1_800_000);

  it('a snapshot of a real 22.09.23 deployment holds none of the secrets planted in its free-text columns, and its rehearsal of 22.09 → 23.03 with the real packages ends verified', async () => {
    const deployment = await deploy2209();
    const { rows } = await deployment.pg.query<{ secret_key: string }>('SELECT secret_key FROM keypairs');
    const secrets = [...rows.map((r) => r.secret_key), ...(await plantSecrets(deployment.pg, ['kernels', 'keypairs', 'users', 'agents', 'scaling_groups'], NOT_PLANTED))];
    const toml = deployment.writeManagerToml();
    const file = join(tempDir(), 'snapshot.jsonl.gz');
    const snapshot = await runEngine({ command: 'snapshot', 'manager-config': toml, 'snapshot-file': file });
    expect(snapshot.report.error).toBeUndefined();
    const raw = readFileSync(file);
    const text = gunzipSync(raw).toString('utf8');
    expect(secrets.length).toBeGreaterThan(500);
    for (const secret of secrets) {
      for (const form of encodings(secret)) {
        expect(text.includes(form) || raw.includes(form), `secret ${secret.slice(0, 6)}… in the snapshot`).toBe(false);
      }
    }

    const servers = await startServers({ series: '22.09', localImage: localImageAvailable() ? LOCAL_IMAGE : undefined });
    try {
      const rehearsal = await runEngine({
        ...migrateFrom2209(toml, '23.03'),
        command: 'rehearse',
        'snapshot-file': file,
        'allow-running-services': 'true',
        'rehearsal-servers': 'given',
        'postgres-url': `postgresql://postgres:${servers.postgres.password}@${servers.postgres.host}:${servers.postgres.port}/postgres`,
        'redis-url': `redis://:${servers.redis.password}@${servers.redis.host}:${servers.redis.port}`,
        'etcd-endpoints': `${servers.etcd.host}:${servers.etcd.port}`,
      });
      expect(rehearsal.report.error).toBeUndefined();
      expect(rehearsal.report.entries.filter((e) => e.phase === 'rehearse').map((e) => [e.step, e.status])).toEqual([
        ['snapshot', 'ok'],
        ['servers', 'ok'],
        ['restore', 'ok'],
        ['final verify', 'ok'],
        ['result', 'ok'],
      ]);
      expect(rehearsal.report.entries.find((e) => e.phase === 'apply' && e.step === 'schema' && e.status === 'changed')?.detail).toBe(
        `22.09's alembic downgrade to ${DOWNGRADE_TO}; then alembic upgrade ${DOWNGRADE_TO} → ${latestRelease('23.03').head} (23.03.12)`,
      );
    } finally {
      await servers.stop();
    }
  }, 1_800_000);
});
