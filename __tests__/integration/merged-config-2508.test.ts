/**
 * 25.7 → 25.8 with Backend.AI's real packages from PyPI, where the manager's configuration becomes
 * manager.toml merged with etcd: a deployment installed by the real 25.7.0 (its own
 * `mgr schema oneshot` into an empty database, then an installation's rows), migrated by
 * bai-migrate with manager-venv, which makes 25.8.1's venv itself (uv, pyenv's Python 3.13).
 *
 * The lock backend etcetra, which 25.8.1 validates but whose lock factory refuses it at startup, set
 * in etcd where 25.8.1 reads it (`config/manager/distributed-lock` and
 * `ai/backend/config/manager/manager/distributed-lock`, backend.ai@25.8.1:src/ai/backend/manager/
 * server.py, config_provider_ctx) and not in manager.toml: preflight refuses naming both keys; the
 * dry run writes nothing; with lock-backend migrate rewrites both keys (and leaves the file), the
 * real 25.8.1 alembic upgrades and its manager serves. And, first: the operator's
 * `distributed-lock = "pg_advisory"` in the file, which etcd shadows, is named as such, and the real
 * 25.8.1 loader, run on the file merged with etcd, names a key that only etcd makes invalid.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAdmin, type Admin } from '../support/deployment.js';
import { productVenvs, schemaOneshot } from '../support/real-manager.js';
import { seedInstallation, storageProxyKeys } from '../support/installation-rows.js';
import { ranRealPackage } from '../support/real-lines.js';
import { runEngine } from '../support/run.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { parseOptions } from '../../src/options/index.js';
import { ManagerVenvs } from '../../src/manager/venvs.js';
import { pyenvInterpreters } from '../../src/manager/venv.js';
import { workerTestbed } from '../support/worker-testbed.js';
import { databaseClient, operatorManagerToml } from '../support/operator-toml.js';
import type { Report } from '../../src/core/report/index.js';

const info = workerTestbed();
/** Each release's head, as releases.md lists them (§1, §3.13, §3.14). */
const HEADS = { '25.7.0': 'c7fedaca4883', '25.8.1': '17ea44123131' } as const;
/** The lock backends 25.8.1's factory starts with (backend.ai@25.8.1:src/ai/backend/manager/server.py, init_lock_factory), in the order bai-migrate lists them. */
const LOCKS_2508 = ['filelock', 'pg_advisory', 'etcd', 'redlock'];
/** Where 25.8.1 reads [manager] distributed-lock from etcd: LegacyEtcdLoader's `config` and EtcdManagerConfigLoader's `ai/backend/config/manager`. */
const ETCD_LOCK_KEYS = ['config/manager/distributed-lock', 'ai/backend/config/manager/manager/distributed-lock'];

let admin: Admin;
let venvs: string;
let python313: string;
let database: string;
let namespace: string;

beforeAll(async () => {
  admin = await connectAdmin(info);
  venvs = productVenvs();
  python313 = pyenvInterpreters('3.13')[0]!;
  expect(python313, 'pyenv has no Python 3.13').toBeDefined();
  const started = Date.now();
  const options = parseOptions({ command: 'migrate', 'to-version': '25.7.0', 'manager-venv': venvs, python: python313 });
  const venv2507 = (await new ManagerVenvs(options.managerVenv!, 'make', new MemoryLogger(), () => undefined).get('25.7.0', { use: 'the test installs with it', unchecked: '' }))!;
  console.log(`25.7.0 venv made in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const suffix = randomBytes(4).toString('hex');
  database = `bai2507_${suffix}`;
  namespace = `ns-2507-${suffix}`;
  await admin.pg.query(`CREATE DATABASE ${database}`);
  await schemaOneshot(venv2507.managerCli, info.postgres, database, operatorManagerToml(info, { database, namespace, prefix: 'bai-merged-2508-' }));
  ranRealPackage('25.7.0', 'mgr schema oneshot (a fresh 25.7.0 install)');
  const c = databaseClient(info, database);
  await c.connect();
  try {
    expect((await c.query('SELECT version_num FROM alembic_version')).rows.map((r) => r.version_num)).toEqual([HEADS['25.7.0']]);
    await seedInstallation(c, { users: ['user0', 'user1'] });
  } finally {
    await c.end();
  }
  const etcd = admin.etcd.namespace(`/sorna/${namespace}/`);
  await etcd.put('config/redis/addr').value(`${info.redis.host}:${info.redis.port}`);
  await etcd.put('config/redis/password').value(info.redis.password);
  for (const [key, value] of Object.entries(storageProxyKeys('192.0.2.12'))) await etcd.put(key).value(value);
}, 900_000);

afterAll(async () => {
  if (database) await admin.pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  if (namespace) await admin.etcd.delete().prefix(`/sorna/${namespace}/`);
  await admin?.close();
});

const entries = (report: Report, phase: string, step: string) => report.entries.filter((e) => e.phase === phase && e.step === step);

describe('25.7.0 → 25.8.1 with the real packages: the lock backend in manager.toml merged with etcd', () => {
  it('names a file value etcd shadows and what the real 25.8.1 loader refuses in the merge; refuses etcetra set only in etcd, naming both keys; the dry run writes nothing; lock-backend rewrites both keys, the real 25.8.1 alembic upgrades and its manager serves', async () => {
    const etcd = admin.etcd.namespace(`/sorna/${namespace}/`);
    const etcdLocks = async () => Promise.all(ETCD_LOCK_KEYS.map((key) => etcd.get(key).string()));
    const toml = operatorManagerToml(info, { database, namespace, prefix: 'bai-merged-2508-' });
    const plain = readFileSync(toml, 'utf8');
    expect(plain).not.toContain('distributed');
    expect(plain).toContain('heartbeat-timeout = 30.0');
    const c = databaseClient(info, database);
    await c.connect();
    const revision = async () => (await c.query('SELECT version_num FROM alembic_version')).rows.map((r) => r.version_num);
    const inputs = (extra: Record<string, string>) => ({
      command: 'migrate',
      'manager-config': toml,
      'manager-venv': venvs,
      python: python313,
      'backup-dir': mkdtempSync(join(tmpdir(), 'bai-merged-2508-backup-')),
      'from-version': '25.7',
      'to-version': '25.8',
      ...extra,
    });
    try {
      // The operator fixed the file, but etcd's config/manager/distributed-lock still says etcetra, and etcd's
      // ai/backend/config/manager/manager/heartbeat-timeout holds a value 25.8.1's model refuses (ge=1.0) over the file's 30.0.
      const edited = plain.replace('[manager]\n', '[manager]\ndistributed-lock = "pg_advisory"\n');
      writeFileSync(toml, edited);
      await etcd.put(ETCD_LOCK_KEYS[0]!).value('etcetra');
      await etcd.put('ai/backend/config/manager/manager/heartbeat-timeout').value('0.5');
      const t1 = Date.now();
      const shadowed = await runEngine(inputs({ command: 'preflight' }));
      console.log(`25.7 → 25.8 preflight (25.8.1 venv made, Python 3.13) in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
      expect(shadowed.report.outcome).toBe('failure');
      const lock = entries(shadowed.report, 'preflight', 'distributed-lock');
      expect(lock.map((e) => e.status)).toEqual(['failed']);
      expect(lock[0]!.detail).toContain(`etcd key ${ETCD_LOCK_KEYS[0]} = "etcetra" (25.8 merges it over manager.toml as [manager] distributed-lock)`);
      expect(lock[0]!.detail).toContain(`accepted: ${LOCKS_2508.join(', ')}`);
      expect(lock[0]!.detail).toContain(`${toml} [manager] distributed-lock = "pg_advisory" is shadowed: 25.8 reads "etcetra" from etcd key ${ETCD_LOCK_KEYS[0]}, which it merges over manager.toml`);
      const loads = entries(shadowed.report, 'preflight', 'manager-starts').filter((e) => e.status === 'failed');
      expect(loads.map((e) => e.detail)).toEqual([
        expect.stringMatching(
          /^manager\.toml \(.*\) merged with etcd does not load with 25\.8\.1's own loader.* it refuses 1 key\(s\): manager\.heartbeat[-_]timeout \(Input should be greater than or equal to 1/,
        ),
      ]);
      ranRealPackage('25.8.1', 'its merged loader (manager.toml and etcd) refusing a value only etcd sets (preflight)');
      expect(readFileSync(toml, 'utf8')).toBe(edited);
      expect(await revision()).toEqual([HEADS['25.7.0']]);

      // etcetra in etcd, in both places, and not in the file.
      writeFileSync(toml, plain);
      await etcd.delete().key('ai/backend/config/manager/manager/heartbeat-timeout');
      for (const key of ETCD_LOCK_KEYS) await etcd.put(key).value('etcetra');
      const refused = await runEngine(inputs({ command: 'preflight' }));
      expect(refused.report.outcome).toBe('failure');
      const lock2 = entries(refused.report, 'preflight', 'distributed-lock');
      expect(lock2.map((e) => e.status)).toEqual(['failed']);
      for (const key of ETCD_LOCK_KEYS) expect(lock2[0]!.detail).toContain(`etcd key ${key} = "etcetra"`);
      expect(lock2[0]!.detail).toContain(`accepted: ${LOCKS_2508.join(', ')}`);
      // 25.8.1's loader validates etcetra (its factory refuses it only at startup): the merge loads.
      expect(
        entries(refused.report, 'preflight', 'manager-starts')
          .filter((e) => /own loader/.test(e.detail))
          .map((e) => [e.status, e.detail]),
      ).toEqual([['ok', `manager.toml (${toml}) merged with etcd loads with 25.8.1's own loader`]]);
      expect(await etcdLocks()).toEqual(ETCD_LOCK_KEYS.map(() => 'etcetra'));
      expect(readFileSync(toml, 'utf8')).toBe(plain);

      const dry = await runEngine(inputs({ 'lock-backend': 'pg_advisory', 'dry-run': 'true' }));
      expect(dry.report.error).toBeUndefined();
      expect(entries(dry.report, 'apply', 'distributed-lock').map((e) => e.detail)).toEqual(ETCD_LOCK_KEYS.map((key) => `dry run: would set etcd key ${key} = "pg_advisory" (now "etcetra")`));
      expect(await etcdLocks()).toEqual(ETCD_LOCK_KEYS.map(() => 'etcetra'));
      expect(readFileSync(toml, 'utf8')).toBe(plain);
      expect(await revision()).toEqual([HEADS['25.7.0']]);

      const t2 = Date.now();
      const migrated = await runEngine(inputs({ 'lock-backend': 'pg_advisory' }), undefined, { disposableCopy: true });
      console.log(`25.7 → 25.8 migrate and the 25.8.1 manager's start in ${((Date.now() - t2) / 1000).toFixed(0)} s`);
      expect(migrated.report.error).toBeUndefined();
      expect(migrated.report.outcome).toBe('success');
      expect(entries(migrated.report, 'preflight', 'manager-starts').map((e) => e.status)).not.toContain('failed');
      expect(await etcdLocks()).toEqual(ETCD_LOCK_KEYS.map(() => 'pg_advisory'));
      expect(readFileSync(toml, 'utf8')).toBe(plain);
      expect(entries(migrated.report, 'verify', 'distributed-lock').map((e) => e.status)).toEqual(['ok']);
      expect(await revision()).toEqual([HEADS['25.8.1']]);
      const { rows } = await c.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'kernels' AND column_name = 'last_seen'`);
      expect(rows).toHaveLength(1);
      expect((await c.query(`SELECT to_regclass('event_logs') AS t`)).rows[0].t).toBe('event_logs');
      ranRealPackage('25.8.1', 'alembic upgrade, on Python 3.13 (uv)');
      const proof = entries(migrated.report, 'apply', 'manager-starts');
      expect(proof.map((e) => e.status)).toEqual(['changed']);
      expect(proof[0]!.detail).toMatch(/^the 25\.8\.1 manager started on the copy in [\d.]+ s, answered GET \/ \(.*"manager": ?"25\.8\.1".*\), served a signed GraphQL query/);
      ranRealPackage('25.8.1', 'start-server on the migrated deployment, its lock backend pg_advisory from the rewritten etcd keys (manager-starts)');
    } finally {
      await c.end();
    }
  }, 1_200_000);
});
