/**
 * snapshot and rehearse: a snapshot of a seeded 21.09 deployment carries no secret and changes
 * nothing; restored into fresh servers, its rehearsed migration ends in the same verified state as
 * migrating the original; rehearse refuses servers that are not empty, and cleans up after itself.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as zlib, gunzipSync, gzipSync } from 'node:zlib';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments, ALEMBIC_COMMAND, FIXTURE_ALEMBIC_INI, KERNEL_SECRETS, type TestDeployment } from '../support/deployment.js';
import { localImageAvailable, LOCAL_IMAGE, SECRETS } from '../support/testbed.js';
import { runEngine, tempDir } from '../support/run.js';
import { encodings, extendToReal2109, NOT_PLANTED, plantSecrets } from '../support/real-2109.js';
import { startServers, type DisposableServers } from '../../src/rehearsal/servers.js';
import { judgeGrowth } from '../../src/rehearsal/growth.js';
import { rehearsalComment } from '../../src/core/report/index.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

const REGISTRY_PASSWORD = 'registry-Secr3t-Qw7e';
const PROXY_SECRET = 'proxy-Secr3t-Lm4n';
const REHEARSAL_IMAGE = localImageAvailable() ? LOCAL_IMAGE : undefined;

/**
 * A 21.09 deployment with secrets in every place a snapshot could pick them up: the real 21.09.9
 * column set with a secret in each free-text column of each row, and what a newer release could
 * add: a column, a NOT NULL UNIQUE column and a table the allowlist does not know.
 */
async function deployWithSecrets(): Promise<{ deployment: TestDeployment; toml: string; secrets: string[] }> {
  const deployment = await deploy({ liveKernels: 3 });
  const etcd = admin().etcd.namespace(`/sorna/${deployment.namespace}/`);
  await etcd.put('config/docker/registry/cr.backend.ai/username').value('admin');
  await etcd.put('config/docker/registry/cr.backend.ai/password').value(REGISTRY_PASSWORD);
  await etcd.put('volumes/proxies/local/secret').value(PROXY_SECRET);
  await etcd.put('volumes/proxies/local/client_api').value('http://127.0.0.1:6021');
  const toml = deployment.writeManagerToml();
  const { rows } = await deployment.pg.query<{ secret_key: string; user_id: string }>('SELECT secret_key, user_id FROM keypairs');
  const db = deployment.pg;
  await extendToReal2109(db);
  await db.query('CREATE TABLE future_templates (id uuid PRIMARY KEY, name text NOT NULL UNIQUE, slug text, spec jsonb NOT NULL)');
  // Unique only through an expression: the index names no column, the catalog's dependencies do.
  await db.query('CREATE UNIQUE INDEX ix_future_templates_slug ON future_templates (lower(slug))');
  await db.query(`INSERT INTO future_templates SELECT gen_random_uuid(), 'template ' || n, NULL, '{}' FROM generate_series(1, 4) n`);
  await db.query('ALTER TABLE kernels ADD COLUMN some_future_column text, ADD COLUMN some_future_key text, ADD COLUMN template_id uuid REFERENCES future_templates(id)');
  await db.query('UPDATE kernels SET template_id = (SELECT id FROM future_templates ORDER BY id LIMIT 1)');
  const planted = await plantSecrets(db, ['kernels', 'keypairs', 'users', 'agents', 'scaling_groups', 'future_templates'], NOT_PLANTED);
  await db.query('ALTER TABLE kernels ALTER COLUMN some_future_key SET NOT NULL, ADD CONSTRAINT uq_kernels_some_future_key UNIQUE (some_future_key)');
  const secrets = [
    SECRETS.postgres,
    SECRETS.redis,
    REGISTRY_PASSWORD,
    PROXY_SECRET,
    KERNEL_SECRETS.envToken,
    'b3BlbnNzaC1rZXktdjEAAAAA-Secr3t',
    ...rows.flatMap((r) => [r.secret_key, r.user_id]),
    ...planted,
  ];
  return { deployment, toml, secrets };
}

/** The snapshot-key of these tests' workflows (hex, as `openssl rand -hex 32` prints one). */
const SNAPSHOT_KEY = randomBytes(32).toString('hex');

async function takeSnapshot(toml: string, key?: string): Promise<string> {
  const file = join(tempDir(), 'snapshot.jsonl.gz');
  const { report } = await runEngine({ command: 'snapshot', 'manager-config': toml, 'snapshot-file': file, ...(key ? { 'snapshot-key': key } : {}) });
  expect(report.error).toBeUndefined();
  expect(report.outcome).toBe('success');
  return file;
}

describe('snapshot', () => {
  it('writes one compressed file with a manifest, holds no secret, and writes nothing to the deployment', async () => {
    const { deployment, toml, secrets } = await deployWithSecrets();
    const before = await snapshotState(admin(), deployment);
    const file = await takeSnapshot(toml);
    expect(await snapshotState(admin(), deployment)).toEqual(before);

    const raw = readFileSync(file);
    const text = gunzipSync(raw).toString('utf8');
    expect(secrets.length).toBeGreaterThan(1000);
    for (const secret of secrets) {
      for (const form of encodings(secret)) {
        expect(text.includes(form) || raw.includes(form), `secret ${secret.slice(0, 6)}… (as ${form.slice(0, 8)}…) in the snapshot`).toBe(false);
      }
    }
    // The planted bytea values are there to be found in hex, were they copied: the search can fail.
    expect(encodings('log: ')[1]).toBe(Buffer.from('log: ').toString('hex'));
    const lines = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    const manifest = lines[0];
    expect(manifest).toMatchObject({
      format: 'bai-migrate-snapshot',
      formatVersion: 2,
      release: { revision: '60a1effa77d2', series: '21.09' },
      etcd: { namespace: deployment.namespace },
      liveness: { managersRegistered: 0, liveKernels: 3 },
      managerConfig: { redactedKeys: ['db.password'] },
    });
    expect(manifest.postgres.rows).toMatchObject({ keypairs: 12, kernels: 43, agents: 2, alembic_version: 1, keypair_resource_policies: 1, users: 12, future_templates: 4 });
    const columns = manifest.postgres.columns;
    expect(columns.keypairs).toEqual({
      copied: ['access_key', 'is_active', 'is_admin', 'concurrency_used', 'resource_policy', 'rate_limit', 'user'],
      pseudonymised: ['user_id'],
      neutralised: ['secret_key', 'created_at', 'modified_at', 'last_used', 'num_queries', 'ssh_public_key', 'ssh_private_key', 'dotfiles', 'bootstrap_script'],
    });
    expect(columns.kernels.copied.sort()).toEqual([
      'access_key',
      'agent',
      'cluster_idx',
      'cluster_mode',
      'cluster_role',
      'cluster_size',
      'created_at',
      'domain_name',
      'group_id',
      'id',
      'scaling_group',
      'session_id',
      'session_type',
      'status',
      'terminated_at',
      'user_uuid',
    ]);
    // Not allowlisted but in a key: stand-ins that stay unique and join.
    expect(columns.kernels.pseudonymised.sort()).toEqual(['session_name', 'some_future_key', 'template_id']);
    for (const column of [
      'container_log',
      'startup_command',
      'bootstrap_script',
      'status_info',
      'status_data',
      'environ',
      'internal_data',
      'mounts',
      'some_future_column',
      'cluster_hostname',
      'occupied_slots',
    ]) {
      expect(columns.kernels.neutralised).toContain(column);
    }
    expect(columns.users).toEqual({
      copied: ['uuid', 'status', 'domain_name', 'role'],
      pseudonymised: ['username', 'email', 'full_name'],
      neutralised: ['password', 'need_password_change', 'description', 'status_info', 'created_at', 'modified_at', 'integration_id'],
    });
    expect(columns.future_templates).toEqual({ copied: [], pseudonymised: ['id', 'name', 'slug'], neutralised: ['spec'] });
    expect(columns.agents.copied.sort()).toEqual(['available_slots', 'id', 'occupied_slots', 'scaling_group', 'status']);
    expect(manifest.etcd.redactedKeys.sort()).toEqual(['config/docker/registry/cr.backend.ai/password', 'config/redis/password', 'volumes/proxies/local/secret']);
    expect(manifest.redis).toMatchObject({ configFile: true, config: { appendonly: 'no' } });
    expect(JSON.stringify(manifest.redis)).not.toContain('requirepass');
    expect(lines.at(-1)).toEqual({ t: 'end', records: lines.length - 2 });
    // Pseudonyms stay consistent: twelve keypairs, twelve distinct made-up users.
    const keypairs = lines.filter((l) => l.t === 'rows' && l.table === 'keypairs').flatMap((l) => l.rows);
    const userColumn = lines.find((l) => l.t === 'rows' && l.table === 'keypairs').columns.indexOf('user_id');
    expect(new Set(keypairs.map((row: string[]) => row[userColumn])).size).toBe(12);
    expect(keypairs.every((row: string[]) => /^u-[0-9a-f]{12}@redacted\.invalid$/.test(row[userColumn]!))).toBe(true);
  });

  it('with snapshot-key, seals the file: it holds no secret and none of the snapshot in a readable form', async () => {
    const { toml, secrets } = await deployWithSecrets();
    const sealed = readFileSync(await takeSnapshot(toml, SNAPSHOT_KEY));
    const plain = gunzipSync(readFileSync(await takeSnapshot(toml))).toString('utf8');
    // Words the plain snapshot is full of; the sealed one must show none, however it is read.
    const words = [...secrets, 'bai-migrate-snapshot', 'keypairs', 'kernels', 'alembic_version', 'config/redis', '60a1effa77d2'];
    for (const word of words.slice(secrets.length)) expect(plain).toContain(word);
    expect(sealed.subarray(0, 8).toString('latin1')).toBe('BAIMSEAL');
    const readings = [sealed.toString('latin1'), sealed.toString('utf8')];
    // Wherever a gzip header happens to appear in the ciphertext, what it inflates to is noise.
    for (let at = sealed.indexOf('\x1f\x8b\x08', 0, 'latin1'); at >= 0; at = sealed.indexOf('\x1f\x8b\x08', at + 1, 'latin1')) {
      try {
        readings.push(gunzipSync(sealed.subarray(at), { finishFlush: zlib.Z_SYNC_FLUSH }).toString('latin1'));
      } catch {
        // not a gzip stream: nothing to read
      }
    }
    expect(() => gunzipSync(sealed)).toThrow();
    for (const text of readings) for (const word of words) expect(text, `"${word.slice(0, 12)}" in the sealed snapshot`).not.toContain(word);
  });

  it('ends with a clear message, and leaves no file that looks whole, when the file cannot be written or read', async () => {
    const { toml } = await deployWithSecrets();
    const missingFolder = join(tempDir(), 'no-such-folder', 'snapshot.jsonl.gz');
    const written = await runEngine({ command: 'snapshot', 'manager-config': toml, 'snapshot-file': missingFolder });
    expect(written.report.outcome).toBe('failure');
    expect(written.report.error).toMatch(/^snapshot-file ".*no-such-folder\/snapshot\.jsonl\.gz" cannot be written \(ENOENT.*\); accepted: a path in a folder that exists and may be written$/);
    const read = await runEngine({ command: 'rehearse', 'to-version': '22.03', 'snapshot-file': missingFolder });
    expect(read.report.errorCode).toBe('invalid-input');
    expect(read.report.error).toMatch(/^snapshot-file ".*" cannot be read: ENOENT/);
    expect(existsSync(`${missingFolder}.partial`) || existsSync(missingFolder)).toBe(false);
  });

  it('refuses a snapshot of an earlier format (redacted by a denylist) with a clear message', async () => {
    const old = join(tempDir(), 'v1.jsonl.gz');
    writeFileSync(old, gzipSync(`${JSON.stringify({ format: 'bai-migrate-snapshot', formatVersion: 1 })}\n${JSON.stringify({ t: 'end', records: 0 })}\n`));
    const { report } = await runEngine({ command: 'rehearse', 'to-version': '22.03', 'snapshot-file': old });
    expect(report.errorCode).toBe('invalid-input');
    expect(report.error).toMatch(/^snapshot-file ".*v1\.jsonl\.gz" has format version 1; this bai-migrate reads version 2: take the snapshot again$/);
  });

  it('refuses a truncated snapshot file with a clear message', async () => {
    const { toml } = await deployWithSecrets();
    const file = await takeSnapshot(toml);
    const truncated = join(tempDir(), 'truncated.jsonl.gz');
    const bytes = readFileSync(file);
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const { report } = await runEngine({ command: 'rehearse', 'to-version': '22.03', 'snapshot-file': truncated });
    expect(report.outcome).toBe('failure');
    expect(report.errorCode).toBe('invalid-input');
    expect(report.error).toMatch(/snapshot-file ".*truncated\.jsonl\.gz" (cannot be read|is incomplete)/);
  });
});

describe('rehearse', () => {
  let servers: DisposableServers;
  beforeAll(async () => {
    servers = await startServers({ line: '21.09', localImage: REHEARSAL_IMAGE });
  }, 120_000);
  afterAll(async () => servers?.stop());

  const given = () => ({
    'rehearsal-servers': 'given',
    'postgres-url': `postgresql://postgres:${servers.postgres.password}@${servers.postgres.host}:${servers.postgres.port}/postgres`,
    'redis-url': `redis://:${servers.redis.password}@${servers.redis.host}:${servers.redis.port}`,
    'etcd-endpoints': `${servers.etcd.host}:${servers.etcd.port}`,
  });

  it('restores the snapshot into fresh servers and ends in the same verified state as migrating the original', async () => {
    const { deployment, toml } = await deployWithSecrets();
    // A role on an instance of its own and TLS options (25.4+, 25.13+): the copy must not reach the operator's servers.
    const own = admin().etcd.namespace(`/sorna/${deployment.namespace}/`);
    await own.put('config/redis/override_configs/container_log/addr').value('192.0.2.50:6390');
    await own.put('config/redis/override-configs/bgtask/addr').value('192.0.2.51:6390');
    await own.put('config/redis/use_tls').value('false');
    await own.put('config/redis/tls-skip-verify').value('true');
    // Where a 25.8+ manager also reads its database and Redis (merged over manager.toml): the operator's own servers.
    await own.put('config/db/addr').value('192.0.2.53:5432');
    await own.put('ai/backend/config/common/redis/addr').value('192.0.2.52:6390');
    await own.put('ai/backend/config/manager/db/name').value('backend_production');
    // Sealed, as the Actions cache carries it: rehearse verifies and opens it with the same key.
    const file = await takeSnapshot(toml, SNAPSHOT_KEY);
    const inputs = migrateInputs(toml, { 'allow-running-services': 'true' });
    const rehearsal = await runEngine({
      ...inputs,
      ...given(),
      command: 'rehearse',
      'manager-config': toml,
      'snapshot-file': file,
      'snapshot-key': SNAPSHOT_KEY,
      'keep-rehearsal': 'true',
    });
    expect(rehearsal.report.error).toBeUndefined();
    expect(rehearsal.report.outcome).toBe('success');
    const steps = (phase: string) => rehearsal.report.entries.filter((e) => e.phase === phase).map((e) => [e.step, e.status]);
    expect(steps('rehearse')).toEqual([
      ['snapshot', 'ok'],
      ['services', 'warning'],
      ['servers', 'ok'],
      ['restore', 'ok'],
      ['growth', 'skipped'],
      ['final verify', 'ok'],
      ['result', 'ok'],
      ['kept', 'warning'],
    ]);
    expect(rehearsal.report.attachments.map((a) => a.name)).toContain('alembic upgrade 60a1effa77d2:81c264528f20 --sql');
    // The PR's manager.toml is rehearsed on a copy: the original is untouched.
    expect(readFileSync(toml, 'utf8')).not.toContain('distributed-lock = "etcd"');
    const database = /database (bai_rehearsal_[0-9a-f]+)/.exec(rehearsal.report.entries.find((e) => e.step === 'kept')!.detail)![1]!;

    const original = await runEngine(inputs);
    expect(original.report.outcome).toBe('success');

    const restored = new pg.Client({ ...servers.postgres, database });
    await restored.connect();
    const redis = new Redis({ ...servers.redis });
    try {
      {
        const { Etcd3 } = await import('etcd3');
        const copy = new Etcd3({ hosts: `http://${servers.etcd.host}:${servers.etcd.port}` });
        const keys = Object.keys(await copy.getAll().prefix('/sorna/').strings());
        copy.close();
        expect(keys.filter((k) => k.endsWith('/config/redis/addr'))).toHaveLength(1);
        expect(keys.filter((k) => /\/config\/redis\/(override[-_]configs\/|use[-_]tls|tls[-_]skip[-_]verify)/.test(k))).toEqual([]);
        expect(keys.filter((k) => /\/sorna\/[^/]+\/(config\/db\/|ai\/backend\/config\/(common|manager)\/(db|redis)\/)/.test(k))).toEqual([]);
      }
      expect(await endState(restored, redis)).toEqual(await endState(deployment.pg, admin().redis(0)));
      expect((await endState(restored, redis)).counters).toContainEqual(['keypair.concurrency_used.AKTEST00000000000001', '3']);
      // NOT NULL, CHECK-free stand-ins, UNIQUE pseudonyms and foreign keys all held on restore.
      const q = async (sql: string) => (await restored.query(sql)).rows;
      const [{ n: kernels }] = (await deployment.pg.query('SELECT count(*)::int AS n FROM kernels')).rows;
      expect(
        await q(
          'SELECT count(*)::int AS n FROM kernels k JOIN users u ON u.uuid = k.user_uuid JOIN keypairs p ON p."user" = u.uuid AND p.access_key = k.access_key JOIN future_templates t ON t.id = k.template_id',
        ),
      ).toEqual([{ n: kernels }]);
      expect(await q('SELECT count(DISTINCT some_future_key)::int AS n, count(*) FILTER (WHERE some_future_column IS NOT NULL)::int AS future FROM kernels')).toEqual([{ n: kernels, future: 0 }]);
      expect(await q(`SELECT DISTINCT cluster_hostname, occupied_slots::text AS slots, repl_in_port, container_log FROM kernels`)).toEqual([
        { cluster_hostname: '', slots: '{}', repl_in_port: 0, container_log: null },
      ]);
      expect(await q(`SELECT DISTINCT bootstrap_script, encode(dotfiles, 'hex') AS dotfiles FROM keypairs`)).toEqual([{ bootstrap_script: '', dotfiles: '' }]);
      expect(await q(`SELECT DISTINCT status::text, description FROM users`)).toEqual([{ status: 'active', description: null }]);
      expect(await q('SELECT count(DISTINCT lower(slug))::int AS n FROM future_templates')).toEqual([{ n: 4 }]);
    } finally {
      await restored.end();
      await redis.flushall();
      redis.disconnect();
      const cleaner = new pg.Client({ ...servers.postgres });
      await cleaner.connect();
      await cleaner.query(`DROP DATABASE ${database} WITH (FORCE)`);
      await cleaner.end();
      const { Etcd3 } = await import('etcd3');
      const etcd = new Etcd3({ hosts: `http://${servers.etcd.host}:${servers.etcd.port}` });
      await etcd.delete().all();
      etcd.close();
    }
  });

  /** A deployment with enough history for two sizes: two thousand kernels that ended an hour apart, each with its stat key in Redis. */
  async function deployWithHistory() {
    const deployment = await deploy();
    await deployment.pg.query(
      `INSERT INTO kernels (id, session_id, access_key, status, terminated_at)
       SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED'::kernelstatus, now() - n * interval '1 hour' FROM generate_series(1, 2000) AS n`,
    );
    const { rows: ids } = await deployment.pg.query<{ id: string }>(`SELECT id::text FROM kernels WHERE terminated_at IS NOT NULL`);
    const stats = admin().redis(0).pipeline();
    for (const { id } of ids) stats.set(id, '{}');
    await stats.exec();
    return deployment;
  }

  it('rehearses the full size from a fresh restore when the smaller copy fails, and reports both', async () => {
    const deployment = await deployWithHistory();
    const toml = deployment.writeManagerToml();
    const file = await takeSnapshot(toml);
    // redlock is no lock backend of 22.03: the migration stops in preflight, at both sizes.
    const { report } = await runEngine({
      ...migrateInputs(toml, { 'allow-running-services': 'true', 'lock-backend': 'redlock' }),
      ...given(),
      command: 'rehearse',
      'manager-config': toml,
      'snapshot-file': file,
    });
    expect(report.outcome).toBe('failure');
    const rehearse = report.entries.filter((e) => e.phase === 'rehearse');
    expect(rehearse.map((e) => [e.step, e.status])).toEqual([
      ['snapshot', 'ok'],
      ['servers', 'ok'],
      ['restore', 'ok'],
      ['growth', 'warning'],
      ['restore', 'ok'],
    ]);
    expect(rehearse[3]!.detail).toMatch(
      /^the migration of the copy with half the history failed \(.*redlock.*\): the migration is timed at the snapshot's size only; the full size is rehearsed from a fresh restore$/s,
    );
    // The second restore holds the whole snapshot again, not the cleared copy.
    expect(rehearse[4]!.detail.split(' row(s)')[0]).toBe(rehearse[2]!.detail.split(' row(s)')[0]);
    expect(report.error).toMatch(/^the dry run failed in the rehearsal: .*redlock/s);
  }, 300_000);

  it('with enough history, also migrates a copy with the older half cleared, and compares each hop’s time with the rows', async () => {
    const deployment = await deployWithHistory();
    const q = async (sql: string) => Number((await deployment.pg.query<{ n: string }>(sql)).rows[0]!.n);
    const kernels = await q('SELECT count(*) AS n FROM kernels');
    // The older half of the terminated kernels: up to and including their median.
    const older = await q(`SELECT count(*) AS n FROM kernels WHERE terminated_at <= (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY terminated_at) FROM kernels WHERE terminated_at IS NOT NULL)`);
    const toml = deployment.writeManagerToml();
    const file = await takeSnapshot(toml);
    const { report } = await runEngine({ ...migrateInputs(toml, { 'allow-running-services': 'true' }), ...given(), command: 'rehearse', 'manager-config': toml, 'snapshot-file': file });
    expect(report.error).toBeUndefined();
    const rehearse = report.entries.filter((e) => e.phase === 'rehearse');
    expect(rehearse.map((e) => e.step)).toEqual([
      'snapshot',
      'servers',
      'restore',
      'smaller copy',
      'restore',
      'final verify',
      ...rehearse.filter((e) => e.step === 'growth').map(() => 'growth'),
      'result',
    ]);
    expect(rehearse.find((e) => e.step === 'smaller copy')!.detail).toMatch(
      new RegExp(
        `^${older} kernel\\(s\\) that ended before \\S+ cleared from a second restore: ${(kernels - older).toLocaleString('en-US')} history rows against ${kernels.toLocaleString('en-US')}, migrated in `,
      ),
    );
    // The full migration's own timings are the ones compared; the hop was timed at both sizes.
    const growth = report.growth!;
    expect(growth.rows).toEqual({ full: kernels, smaller: kernels - older });
    const hop = growth.hops.find((h) => h.hop === '21.09 → 22.03')!;
    // Every step of the hop but the manager's start, which a real migrate does not do.
    const own = report.timings!.filter((t) => t.hop === '21.09 → 22.03' && t.step !== 'manager-starts');
    expect(hop.fullMs).toBe(own.reduce((sum, t) => sum + t.applyMs + t.verifyMs, 0));
    expect(hop.smallerMs).toBeGreaterThan(0);
    expect(hop.schemaFullMs).toBe(own.filter((t) => t.step === 'schema').reduce((sum, t) => sum + t.applyMs + t.verifyMs, 0));
    expect(hop.verdict).toBe(judgeGrowth(hop.fullMs, hop.smallerMs, growth.rows.full / growth.rows.smaller));
    // The smaller copy's rows stay out of the report: one restore's worth of apply rows.
    expect(report.entries.filter((e) => e.phase === 'apply' && e.step === 'schema')).toHaveLength(1);
    const { body } = rehearsalComment(report);
    expect(body).toContain(
      `History rows (kernels, and sessions where they exist): ${kernels.toLocaleString('en-US')} in the snapshot, ${(kernels - older).toLocaleString('en-US')} with its older half cleared`,
    );
    expect(body).toMatch(/\| 21\.09 → 22\.03 \| [\d.]+ m?s \| [\d.]+ m?s \| [\d.]+× \|/);
    // Nothing of either copy is left on the given servers.
    const cleaner = new pg.Client({ ...servers.postgres });
    await cleaner.connect();
    const left = await cleaner.query(`SELECT datname FROM pg_database WHERE datname LIKE 'bai_rehearsal_%'`);
    await cleaner.end();
    expect(left.rows).toEqual([]);
  }, 300_000);

  it('with measure-growth: false, migrates the snapshot once', async () => {
    const { toml } = await deployWithSecrets();
    const file = await takeSnapshot(toml);
    const { report } = await runEngine({ ...migrateInputs(toml, { 'allow-running-services': 'true' }), ...given(), command: 'rehearse', 'snapshot-file': file, 'measure-growth': 'false' });
    expect(report.error).toBeUndefined();
    expect(report.entries.find((e) => e.step === 'growth')).toMatchObject({ status: 'skipped', detail: "measure-growth: false: the migration is timed at the snapshot's size only" });
    expect(report.growth).toBeUndefined();
  });

  it('refuses a sealed snapshot that was changed, cut short or extended, or a wrong key, before it starts or creates anything', async () => {
    const { toml } = await deployWithSecrets();
    const file = await takeSnapshot(toml, SNAPSHOT_KEY);
    const bytes = readFileSync(file);
    const variant = (name: string, content: Buffer) => {
      const path = join(tempDir(), name);
      writeFileSync(path, content);
      return path;
    };
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)]! ^= 0x01;
    const cases = [
      { file: variant('flipped.jsonl.gz', flipped), key: SNAPSHOT_KEY, error: /^snapshot-file ".*flipped\.jsonl\.gz" fails its integrity check \(its AES-256-GCM tag does not match its contents\)/ },
      { file: variant('truncated.jsonl.gz', bytes.subarray(0, bytes.length - 100)), key: SNAPSHOT_KEY, error: /^snapshot-file ".*truncated\.jsonl\.gz" fails its integrity check/ },
      { file: variant('appended.jsonl.gz', Buffer.concat([bytes, Buffer.from('\n')])), key: SNAPSHOT_KEY, error: /^snapshot-file ".*appended\.jsonl\.gz" fails its integrity check/ },
      { file, key: randomBytes(32).toString('base64'), error: /^snapshot-key does not match the key this snapshot was sealed with/ },
      { file, key: undefined, error: /is sealed \(encrypted\); give snapshot-key, the key it was sealed with$/ },
      { file: await takeSnapshot(toml), key: SNAPSHOT_KEY, error: /is not sealed \(a plain snapshot taken without snapshot-key\), but snapshot-key is given: refused/ },
    ];
    const containers = ownContainers;
    const databases = async () => {
      const client = new pg.Client({ ...servers.postgres });
      await client.connect();
      try {
        return (await client.query(`SELECT datname FROM pg_database WHERE datname LIKE 'bai_rehearsal_%'`)).rows;
      } finally {
        await client.end();
      }
    };
    const workDirs = () =>
      readdirSync(tmpdir())
        .filter((name) => name.startsWith('bai-migrate-rehearsal-'))
        .sort();
    const before = { containers: containers(), databases: await databases(), workDirs: workDirs() };
    for (const c of cases) {
      for (const where of [given(), {}]) {
        const { report } = await runEngine({ ...migrateInputs(toml), ...where, command: 'rehearse', 'snapshot-file': c.file, ...(c.key ? { 'snapshot-key': c.key } : {}) });
        expect(report.outcome).toBe('failure');
        expect(report.errorCode).toBe('invalid-input');
        expect(report.error).toMatch(c.error);
        // Refused before the first step: no snapshot summary, no servers, no restore.
        expect(report.entries).toEqual([]);
      }
    }
    expect(containers()).toEqual(before.containers);
    expect(await databases()).toEqual(before.databases);
    // Nothing decrypted stays behind in a temporary folder.
    expect(workDirs()).toEqual(before.workDirs);
  });

  it('refuses servers that already hold data, and writes nothing to them', async () => {
    const { deployment, toml } = await deployWithSecrets();
    const file = await takeSnapshot(toml);
    const before = await snapshotState(admin(), deployment);
    // The test bed holds the original deployment's namespace: a live deployment, as far as rehearse can tell.
    const { report } = await runEngine({
      command: 'rehearse',
      'to-version': '22.03',
      'snapshot-file': file,
      'rehearsal-servers': 'given',
      'postgres-url': `postgresql://postgres:${SECRETS.postgres}@${info.postgres.host}:${info.postgres.port}/postgres`,
      'redis-url': deployment.redisUrl,
      'etcd-endpoints': deployment.etcdEndpoint,
      'alembic-command': ALEMBIC_COMMAND,
      'alembic-config': FIXTURE_ALEMBIC_INI,
    });
    expect(report.outcome).toBe('failure');
    expect(report.error).toBe(
      `the rehearsal's etcd already has ${Object.keys(await admin().etcd.namespace(`/sorna/${deployment.namespace}/`).getAll().keys()).length} key(s) under /sorna/${deployment.namespace}/: give rehearse disposable servers, never a live deployment's`,
    );
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    const databases = await admin().pg.query(`SELECT datname FROM pg_database WHERE datname LIKE 'bai_rehearsal_%'`);
    expect(databases.rows).toEqual([]);
  });

  it('starts its own servers when none are given, and removes them afterwards', async () => {
    const { toml } = await deployWithSecrets();
    const file = await takeSnapshot(toml);
    const containers = ownContainers;
    const before = containers();
    const { report, log } = await runEngine({
      ...migrateInputs(toml),
      command: 'rehearse',
      'snapshot-file': file,
      ...(REHEARSAL_IMAGE ? { 'rehearsal-image': REHEARSAL_IMAGE } : {}),
    });
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe('success');
    expect(report.entries.find((e) => e.step === 'servers')?.detail).toMatch(/^started: /);
    expect(report.entries.filter((e) => e.phase === 'verify' && e.status === 'failed')).toEqual([]);
    expect(log.lines).toContain('[Clean up]');
    expect(containers()).toEqual(before);
  }, 180_000);
});

/**
 * The containers of this test process (Testcontainers labels each with its session, the test
 * bed's and a rehearsal's alike), so that containers of other runs on the machine do not count.
 */
function ownContainers(): string[] {
  const session = execFileSync('docker', ['inspect', '-f', '{{ index .Config.Labels "org.testcontainers.session-id" }}', info.containers.postgres], { encoding: 'utf8' }).trim();
  if (!session) throw new Error('the test bed container has no Testcontainers session label');
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=org.testcontainers.session-id=${session}`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .sort();
  // The filter must see at least the test bed itself, or the comparison would prove nothing.
  if (!ids.some((id) => info.containers.postgres.startsWith(id))) throw new Error(`the test bed's PostgreSQL container is not among ${ids.join(', ')}`);
  return ids;
}

/** What a migration leaves behind that the next release relies on. */
async function endState(client: pg.Client, redis: Redis) {
  const q = async (sql: string) => (await client.query(sql)).rows;
  const counterKeys = (await redis.keys('keypair.concurrency_used.*')).sort();
  return {
    revision: await q('SELECT version_num FROM alembic_version'),
    concurrencyColumn: await q(`SELECT column_name FROM information_schema.columns WHERE table_name = 'keypairs' AND column_name = 'concurrency_used'`),
    images: await q('SELECT name, registry, image, tag, config_digest, size_bytes, labels, resources FROM images ORDER BY name'),
    aliases: await q('SELECT a.alias, i.name FROM image_aliases a JOIN images i ON i.id = a.image ORDER BY a.alias'),
    kernels: await q(`SELECT status::text, count(*) FROM kernels GROUP BY 1 ORDER BY 1`),
    counters: await Promise.all(counterKeys.map(async (key) => [key, await redis.get(key)])),
    appendonly: await redis.config('GET', 'appendonly'),
  };
}
