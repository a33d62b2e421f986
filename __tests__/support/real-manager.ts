/**
 * The real backend.ai-manager from PyPI on the test bed: a venv made inside the interpreter image
 * the release installs on (scripts/pythons.sh; src/releases/manager-python.ts says which, with
 * which pip arguments and constraints), kept on the machine between runs, and its CLI run in that
 * image with host networking, so that it reaches the test bed's servers on 127.0.0.1.
 *
 * The venv lives under /var/cache/bai-migrate/venvs/<release>-py<X.Y>/, never in the repository,
 * and every container mounts /var/cache/bai-migrate at the same path, so the venv's absolute
 * paths (its scripts' shebangs) are the same wherever it runs. It is reused when its marker says
 * it is complete; a folder without one (a build that died) is made again.
 *
 * Nothing here skips: an image or venv that cannot be built throws, with pip's last lines.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { managerPythonFor } from '../../src/releases/manager-python.js';
import { testBedPython, type TestBedPython } from './test-bed-pythons.js';
import { alembicDriverOf } from '../../src/releases/line-facts.js';
import type pg from 'pg';
import { inject } from 'vitest';
import type { TestbedInfo } from './testbed.js';
import type { Admin, SeedSchema } from './deployment.js';
import { requireSuccess, runManagerCli } from '../../src/manager/cli.js';

const execFileAsync = promisify(execFile);

export const BAI_CACHE = process.env.BAI_CACHE_DIR ?? '/var/cache/bai-migrate';

declare module 'vitest' {
  export interface ProvidedContext {
    /** manager-venv of the tests that run the product's own venvs: new and empty each run. */
    productVenvs: string;
  }
}

/**
 * The folder the product makes its manager venvs in (manager-venv), which the global setup makes
 * new and empty for each run: what the product makes under test never outlives the run, so a
 * fresh machine and a warm one run the same code. pip's and uv's download caches are the test bed's
 * (the uv binary itself is fetched again into the new folder each run, from pip's cache).
 */
export function productVenvs(): string {
  process.env.PIP_CACHE_DIR = join(BAI_CACHE, 'pip');
  process.env.UV_CACHE_DIR = join(BAI_CACHE, 'uv');
  return inject('productVenvs');
}
const PYTHONS_SH = join(process.cwd(), 'scripts/pythons.sh');
const IMAGE_REPO = process.env.BAI_PYTHON_IMAGE_REPO ?? 'bai-migrate/python';
const MARKER = '.bai-migrate-complete';

export interface RealManagerVenv {
  /** Tag, e.g. 21.09.9. */
  readonly release: string;
  /** pip's requirement, e.g. backend.ai-manager==21.9.9. */
  readonly requirement: string;
  readonly python: TestBedPython;
  readonly image: string;
  readonly dir: string;
  /** The venv's manager CLI, at the same path on the machine and in the containers. */
  readonly cli: string;
  /** false when a complete venv of an earlier run was reused. */
  readonly built: boolean;
  readonly seconds: number;
}

/** What the marker holds: a venv made with other settings is made again. */
function stamp(requirement: string, python: string, constraints: readonly string[], pipArgs: readonly string[]): string {
  return [requirement, `python ${python}`, `constraints ${constraints.join(' ') || '-'}`, `pip-args ${pipArgs.join(' ') || '-'}`].join('; ');
}

/** The venv is built by this script inside the image; it checks the marker again under the lock. */
const BUILD_SCRIPT = `set -eu
dir=$1; requirement=$2; want=$3; constraints=$4; shift 4
if [ -f "$dir/${MARKER}" ] && [ "$(cat "$dir/${MARKER}")" = "$want" ]; then echo "reused $dir"; exit 0; fi
rm -rf "$dir"
python3 -m venv "$dir"
printf '%s' "$constraints" > "$dir/bai-migrate-constraints.txt"
PIP_CONSTRAINT="$dir/bai-migrate-constraints.txt" "$dir/bin/python" -m pip install --no-input "$@" "$requirement"
# What the tests need of it: the migration scripts importable, and the CLI.
"$dir/bin/python" -c 'import alembic, ai.backend.manager.models.alembic'
"$dir/bin/backend.ai" mgr --help >/dev/null
printf '%s\\n' "$want" > "$dir/${MARKER}"
echo "built $dir"
`;

/**
 * The release's venv, built or reused. Builds are serialized by a lock file beside the venv, so
 * two test runs (or agents) on one machine never build into the same folder at once.
 */
export async function ensureRealManagerVenv(release: string): Promise<RealManagerVenv> {
  const started = Date.now();
  const choice = managerPythonFor(release);
  if (!choice.fits) throw new Error(`backend.ai-manager ${release} has no interpreter on the test bed: ${choice.reason}`);
  const pythonXY = choice.python;
  const python = testBedPython(pythonXY);
  const dir = join(BAI_CACHE, 'venvs', `${choice.version}-py${pythonXY}`);
  const image = `${IMAGE_REPO}:${python}`;
  const want = stamp(choice.requirement, pythonXY, choice.constraints, choice.pipArgs);
  const result = (built: boolean): RealManagerVenv => ({
    release: choice.version,
    requirement: choice.requirement,
    python,
    image,
    dir,
    cli: join(dir, 'bin', 'backend.ai'),
    built,
    seconds: (Date.now() - started) / 1000,
  });
  const complete = () => existsSync(join(dir, MARKER)) && readFileSync(join(dir, MARKER), 'utf8').trim() === want;
  // The image too: a venv is only usable with the interpreter that made it.
  if (complete() && imagePresent(image)) return result(false);
  if (choice.preinstall.length > 0) throw new Error(`${release}: preinstall (${choice.preinstall.join(' ')}) is not supported by the test bed's venv builder`);
  mkdirSync(join(BAI_CACHE, 'venvs'), { recursive: true });
  try {
    await execFileAsync('bash', [PYTHONS_SH, python], { maxBuffer: 16 << 20 });
    const { stdout } = await execFileAsync(
      'flock',
      [`${dir}.lock`, 'bash', PYTHONS_SH, 'exec', python, 'sh', '-c', BUILD_SCRIPT, 'build', dir, choice.requirement, want, choice.constraints.map((c) => `${c}\n`).join(''), ...choice.pipArgs],
      { env: { ...process.env, BAI_PYTHON_MOUNTS: `${BAI_CACHE}:${BAI_CACHE}` }, maxBuffer: 64 << 20 },
    );
    return result(stdout.includes(`built ${dir}`));
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    const tail = `${stdout}\n${stderr}`
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(-15)
      .join('\n');
    throw new Error(`the real ${choice.requirement} venv (${dir}, image ${image}) could not be built:\n${tail}`, { cause: error });
  }
}

function imagePresent(image: string): boolean {
  try {
    execFileSync('docker', ['image', 'inspect', image], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The docker run prefix for the venv's programs: host networking (the test bed's servers are on
 * 127.0.0.1), the cache at its own path, and `mounts` (folders of the machine, read-only, at their
 * own paths, e.g. where a manager.toml is).
 */
export function dockerRunArgs(venv: RealManagerVenv, options: { mounts?: readonly string[]; env?: Record<string, string>; workdir?: string } = {}): string[] {
  return [
    'run',
    '--rm',
    '--network',
    'host',
    '-v',
    `${BAI_CACHE}:${BAI_CACHE}`,
    ...(options.mounts ?? []).flatMap((dir) => ['-v', `${dir}:${dir}:ro`]),
    ...Object.entries(options.env ?? {}).flatMap(([name, value]) => ['-e', `${name}=${value}`]),
    '-w',
    options.workdir ?? '/tmp',
    venv.image,
  ];
}

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one of the venv's programs (`bin/<program>`) in the image. */
export async function runInVenv(
  venv: RealManagerVenv,
  program: string,
  args: readonly string[],
  options: { mounts?: readonly string[]; env?: Record<string, string>; workdir?: string } = {},
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await execFileAsync('docker', [...dockerRunArgs(venv, options), join(venv.dir, 'bin', program), ...args], { maxBuffer: 64 << 20 });
    return { exitCode: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout = '', stderr = '' } = error as { code?: number | string; stdout?: string; stderr?: string };
    return { exitCode: typeof code === 'number' ? code : 1, stdout, stderr };
  }
}

/** What the 21.09 manager's config loader requires beyond the deployment's manager.toml: docker-registry, logging (console only) and debug. */
export const MANAGER_TOML_LOGGING = `
[docker-registry]
ssl-verify = false

[debug]
enabled = false

[logging]
level = "INFO"
drivers = ["console"]

[logging.console]
colored = false
format = "simple"

[logging.pkg-ns]
"" = "WARNING"
"ai.backend" = "INFO"
"alembic" = "INFO"
`;

/**
 * 21.09's config loader accepts num-proc only up to the machine's core count
 * (backend.ai-manager@21.09.9:src/ai/backend/manager/config.py, `t.Int[1:_max_cpu_count]`).
 */
export const MANAGER_TOML_MANAGER = `[manager]\nnum-proc = 1\nservice-addr = { host = "0.0.0.0", port = 8080 }\nheartbeat-timeout = 30.0\n`;

/** The manager's alembic.ini for one database: its scripts as a package resource, as alembic.ini.sample has them. */
export function managerAlembicIni(postgresUrl: string): string {
  return `[alembic]
script_location = ai.backend.manager.models:alembic
sqlalchemy.url = ${postgresUrl.replace(/%/g, '%%')}

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
`;
}

export interface ManagerFiles {
  readonly dir: string;
  readonly managerToml: string;
  readonly alembicIni: string;
}

/** The containers run with host networking and may reach the test bed's servers on the loopback only. */
export function requireLoopback(info: TestbedInfo): void {
  const others = [info.postgres.host, info.redis.host, info.etcd.host].filter((host) => host !== '127.0.0.1' && host !== 'localhost');
  if (others.length > 0) throw new Error(`the real manager's containers reach the test bed on 127.0.0.1 only, but its servers are at ${others.join(', ')}`);
}

/** A manager.toml and alembic.ini for `database` of the test bed's PostgreSQL, in a new folder (mounted read-only into the container). */
export function writeManagerFiles(info: TestbedInfo, database: string, etcdNamespace = 'local', release = '21.09.9'): ManagerFiles {
  requireLoopback(info);
  const dir = mkdtempSync(join(tmpdir(), 'bai-real-manager-'));
  const { host, port, user, password } = info.postgres;
  const managerToml = join(dir, 'manager.toml');
  writeFileSync(
    managerToml,
    `[etcd]\nnamespace = "${etcdNamespace}"\naddr = { host = "${info.etcd.host}", port = ${info.etcd.port} }\nuser = ""\npassword = ""\n\n` +
      `[db]\ntype = "postgresql"\naddr = { host = "${host}", port = ${port} }\nname = "${database}"\nuser = "${user}"\npassword = "${password}"\n\n${MANAGER_TOML_MANAGER}${MANAGER_TOML_LOGGING}`,
  );
  const alembicIni = join(dir, 'alembic.ini');
  // The scheme of the release's env.py: postgresql+asyncpg:// from 22.09.
  const scheme = alembicDriverOf(release) === 'asyncpg' ? 'postgresql+asyncpg' : 'postgresql';
  writeFileSync(alembicIni, managerAlembicIni(`${scheme}://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}`));
  return { dir, managerToml, alembicIni };
}

/** Runs `backend.ai <args>` of the venv in its image with BACKEND_CONFIG_FILE = the files' manager.toml; throws with its output when it fails. */
export async function runManagerCliInContainer(venv: RealManagerVenv, files: ManagerFiles, args: readonly string[]): Promise<CommandResult> {
  const result = await runInVenv(venv, 'backend.ai', args, { mounts: [files.dir], env: { BACKEND_CONFIG_FILE: files.managerToml }, workdir: files.dir });
  if (result.exitCode !== 0)
    throw new Error(`backend.ai ${args.join(' ')} (${venv.requirement}) failed (exit ${result.exitCode}):\n${`${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-20).join('\n')}`);
  return result;
}

/**
 * Gives the empty database `database` the release's own schema: `backend.ai mgr schema oneshot`,
 * which on a database without alembic_version runs the models' metadata.create_all and stamps
 * the alembic head (backend.ai-manager@21.09.9:src/ai/backend/manager/cli/dbschema.py). 21.09's
 * own `alembic upgrade head` from empty cannot be used: its oldest revisions fail on replay
 * before 22.09.2 (lablup/backend.ai#747).
 */
export async function createRealSchema(venv: RealManagerVenv, info: TestbedInfo, database: string): Promise<CommandResult> {
  const files = writeManagerFiles(info, database, 'local', venv.release);
  return runManagerCliInContainer(venv, files, ['mgr', 'schema', 'oneshot', '-f', files.alembicIni]);
}

/** The group every seeded kernel belongs to. */
const SEED_GROUP = '2de2b9a3-2f2c-4d4c-9a35-8c8ff5a3e3c1';

/**
 * What the columns the common seeding (support/deployment.ts) does not name get on the real 21.09
 * schema: NOT NULL columns without a server default, which the manager fills in itself.
 * A column of that kind missing here fails the seeding, naming it.
 */
export const FILL_2109: Readonly<Record<string, string>> = {
  'agents.region': `'local'`,
  'agents.available_slots': `'{}'`,
  'agents.occupied_slots': `'{}'`,
  'agents.version': `'21.09.9'`,
  'agents.compute_plugins': `'{}'`,
  'keypair_resource_policies.default_for_unspecified': `'UNLIMITED'`,
  'keypair_resource_policies.total_resource_slots': `'{}'`,
  'keypair_resource_policies.max_containers_per_session': '1',
  'keypair_resource_policies.max_vfolder_count': '10',
  'keypair_resource_policies.max_vfolder_size': '0',
  'keypair_resource_policies.idle_timeout': '0',
  'keypair_resource_policies.allowed_vfolder_hosts': `'{local}'`,
  'keypairs.user': '(SELECT u.uuid FROM users u WHERE u.email = keypairs.user_id)',
  'keypairs.dotfiles': `'\\x90'`,
  'keypairs.bootstrap_script': `''`,
  'scaling_groups.driver': `'static'`,
  'scaling_groups.driver_opts': `'{}'`,
  'scaling_groups.scheduler': `'fifo'`,
  'scaling_groups.scheduler_opts': `'{}'`,
  'kernels.cluster_role': `'main'`,
  'kernels.cluster_size': '1',
  'kernels.cluster_idx': '0',
  'kernels.cluster_hostname': `'main1'`,
  'kernels.domain_name': `'default'`,
  'kernels.group_id': `'${SEED_GROUP}'`,
  'kernels.user_uuid': '(SELECT u.uuid FROM keypairs k JOIN users u ON u.email = k.user_id WHERE k.access_key = kernels.access_key)',
  'kernels.occupied_slots': `'{}'`,
  'kernels.occupied_shares': `'{}'`,
  'kernels.repl_in_port': '2000',
  'kernels.repl_out_port': '2001',
  'kernels.stdin_port': '2002',
  'kernels.stdout_port': '2003',
};
const SEEDED_TABLES = ['agents', 'keypair_resource_policies', 'keypairs', 'scaling_groups', 'kernels'];
/** NOT NULL columns the common seeding gives values itself. */
const SEEDED_COLUMNS = new Set(['agents.status', 'agents.addr', 'kernels.session_id', 'keypair_resource_policies.max_concurrent_sessions', 'keypairs.resource_policy']);

/** NOT NULL columns without a default of the seeded tables, primary keys left out. */
async function columnsToFill(client: pg.Client): Promise<Array<{ table: string; column: string }>> {
  const { rows } = await client.query<{ table: string; column: string }>(
    `SELECT c.table_name AS table, c.column_name AS column FROM information_schema.columns c
      WHERE c.table_schema = 'public' AND c.table_name = ANY($1) AND c.is_nullable = 'NO' AND c.column_default IS NULL
        AND NOT EXISTS (SELECT 1 FROM information_schema.key_column_usage k JOIN information_schema.table_constraints t USING (constraint_name, table_name)
                         WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_name = c.table_name AND k.column_name = c.column_name)
      ORDER BY c.table_name, c.ordinal_position`,
    [SEEDED_TABLES],
  );
  return rows;
}

/**
 * The seeding of support/deployment.ts on the schema the real 21.09.9 manager made: a domain and
 * a group first, then the seeded rows with the manager's own NOT NULL columns relaxed, filled
 * (FILL_2109; a user per keypair, as the manager's keypairs need) and required again.
 */
export function real2109Schema(template: string, fill: Readonly<Record<string, string>> = FILL_2109): SeedSchema {
  let relaxed: Array<{ table: string; column: string }> = [];
  return {
    template,
    async beforeSeed(client) {
      await client.query(
        `INSERT INTO domains (name, is_active, total_resource_slots, allowed_vfolder_hosts, allowed_docker_registries, dotfiles) VALUES ('default', true, '{}', '{local}', '{cr.backend.ai}', '\\x90')`,
      );
      await client.query(
        `INSERT INTO groups (id, name, domain_name, is_active, total_resource_slots, allowed_vfolder_hosts, dotfiles) VALUES ($1, 'default', 'default', true, '{}', '{local}', '\\x90')`,
        [SEED_GROUP],
      );
      relaxed = (await columnsToFill(client)).filter((c) => !SEEDED_COLUMNS.has(`${c.table}.${c.column}`));
      const unknown = relaxed.filter((c) => !(`${c.table}.${c.column}` in fill));
      if (unknown.length > 0) throw new Error(`the real schema has NOT NULL columns the seeding does not fill: ${unknown.map((c) => `${c.table}.${c.column}`).join(', ')} (add them to its fill map)`);
      for (const { table, column } of relaxed) await client.query(`ALTER TABLE ${table} ALTER COLUMN "${column}" DROP NOT NULL`);
    },
    async afterSeed(client) {
      await client.query(
        `INSERT INTO users (uuid, username, email, status, role, domain_name) SELECT gen_random_uuid(), split_part(user_id, '@', 1), user_id, 'active', 'user', 'default' FROM keypairs`,
      );
      await client.query(`INSERT INTO association_groups_users (group_id, user_id) SELECT $1, uuid FROM users`, [SEED_GROUP]);
      for (const { table, column } of relaxed) {
        await client.query(`UPDATE ${table} SET "${column}" = ${fill[`${table}.${column}`]} WHERE "${column}" IS NULL`);
        await client.query(`ALTER TABLE ${table} ALTER COLUMN "${column}" SET NOT NULL`);
      }
    },
  };
}

/**
 * A template database with the real 21.09.9 schema, made once per test bed by the real manager's
 * oneshot; deployments are copies of it (SeedOptions.schemaOf = real2109Schema(name)).
 */
export async function real2109Template(venv: RealManagerVenv, admin: Admin, info: TestbedInfo): Promise<string> {
  const name = `tmpl_real_${venv.release.replace(/\./g, '_')}`;
  const { rows } = await admin.pg.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (rows.length > 0) return name;
  await admin.pg.query(`DROP DATABASE IF EXISTS ${name}_building`);
  await admin.pg.query(`CREATE DATABASE ${name}_building`);
  await createRealSchema(venv, info, `${name}_building`);
  await admin.pg.query(`ALTER DATABASE ${name}_building RENAME TO ${name}`);
  return name;
}

/** Terminated kernels on both sides of a 30-day retention (days away from the cutoff, so the manager's clock and PostgreSQL's agree), and kernels that stay. */
export function historyKernels(): KernelSpec[] {
  const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
  return [
    ...[31, 45, 90, 400].map((days) => ({ id: randomUUID(), status: 'TERMINATED', terminatedAt: daysAgo(days) })),
    { id: randomUUID(), status: 'CANCELLED', terminatedAt: daysAgo(60) },
    { id: randomUUID(), status: 'ERROR', terminatedAt: daysAgo(35) },
    ...[1, 10, 29].map((days) => ({ id: randomUUID(), status: 'TERMINATED', terminatedAt: daysAgo(days) })),
    { id: randomUUID(), status: 'RUNNING', terminatedAt: null },
    { id: randomUUID(), status: 'PENDING', terminatedAt: null },
  ];
}

/** The ids of `kernels` a 30-day retention keeps, sorted. */
export const expectedKept = (kernels: readonly KernelSpec[]): string[] =>
  kernels
    .filter((k) => k.terminatedAt === null || Date.now() - Date.parse(k.terminatedAt) < 30 * 86_400_000)
    .map((k) => k.id)
    .sort();

export interface KernelSpec {
  readonly id: string;
  readonly status: string;
  /** ISO timestamp, or null for a kernel that has not ended. */
  readonly terminatedAt: string | null;
}

/**
 * Adds kernels like the first seeded kernel of `accessKey` (every NOT NULL column of the real
 * schema filled as the seeding filled it), each with its own id, session, status and terminated_at.
 */
export async function copyKernels(client: pg.Client, kernels: readonly KernelSpec[], accessKey = 'AKTEST00000000000001'): Promise<void> {
  await client.query(
    `INSERT INTO kernels SELECT (jsonb_populate_record(NULL::kernels, to_jsonb(k) || jsonb_build_object(
        'id', s.id, 'session_id', s.id, 'status', s.status, 'terminated_at', s.terminated_at, 'session_name', 'copy-' || s.id))).*
       FROM (SELECT * FROM kernels WHERE access_key = $2 ORDER BY id LIMIT 1) k, jsonb_to_recordset($1::jsonb) AS s(id uuid, status text, terminated_at timestamptz)`,
    [JSON.stringify(kernels.map((k) => ({ id: k.id, status: k.status, terminated_at: k.terminatedAt }))), accessKey],
  );
}

/**
 * A fresh install of a real release into the empty `database`: its own `mgr schema oneshot` (with
 * an alembic.ini for that database) run by its CLI with `configFile` as manager.toml.
 */
export async function schemaOneshot(managerCli: string, postgres: Pick<TestbedInfo['postgres'], 'host' | 'port' | 'user' | 'password'>, database: string, configFile: string): Promise<void> {
  const { host, port, user, password } = postgres;
  const ini = join(mkdtempSync(join(tmpdir(), 'bai-oneshot-')), 'alembic.ini');
  writeFileSync(ini, managerAlembicIni(`postgresql+asyncpg://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}`));
  const cli = { command: [managerCli], configFile };
  const args = ['mgr', 'schema', 'oneshot', '-f', ini];
  requireSuccess(cli, args, await runManagerCli(cli, args));
}
