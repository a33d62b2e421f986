/**
 * Stand-in alembic projects built from a release line's real revision graph (src/releases: the
 * ids and down revisions of the line's final tag), for hops whose manager package no Python here
 * installs. Each revision only records that it ran, in standin_applied (a second run of the same
 * revision fails on its primary key, as a real non-idempotent revision would), and its downgrade
 * removes the record. They run with the machine's real alembic and the fixture's env.py, in one
 * transaction like the manager's.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentsIn, revisionsOf } from '../../src/releases/releases.js';
import { ALEMBIC_COMMAND, templateFor, type Admin } from './deployment.js';
import type { TestbedInfo } from './testbed.js';
import { runAlembic } from '../../src/manager/alembic.js';
import type { AlembicSetup } from '../../src/manager/alembic.js';
import { SCHEMA_FACTS } from '../../src/releases/schema-facts.js';
import { HOPS } from '../../src/hops/index.js';
import { columnsKeptBy } from '../../src/steps/columns-across-downgrade.js';

const FIXTURE = join(process.cwd(), '__tests__/fixtures/alembic');

/**
 * The DDL a stand-in revision runs besides its record: what bai-migrate checks of the real one.
 * The schema facts verify reads (a table or column a revision adds or drops), and the columns a
 * downgrade-first hop keeps, which the real revisions add (upgrade) and drop (downgrade). Every
 * statement tolerates a table the stand-in schema lacks (the fixture has no users table).
 */
const STANDIN_COLUMN_TYPES: Record<string, string> = {
  'users.password_changed_at': 'timestamptz DEFAULT now()',
  'agents.public_host': 'varchar(256)',
  'scaling_groups.is_public': 'boolean NOT NULL DEFAULT true',
  // An enum filled from the images' labels in the real revision; COMPUTE when no image says otherwise.
  'kernels.role': "text DEFAULT 'COMPUTE'",
};

function standinDdl(revision: string): { upgrade: string[]; downgrade: string[] } {
  const upgrade: string[] = [];
  const downgrade: string[] = [];
  for (const fact of SCHEMA_FACTS.filter((f) => f.since === revision)) {
    for (const probe of fact.probes) {
      if (!probe.column) {
        upgrade.push(probe.exists ? `CREATE TABLE IF NOT EXISTS ${probe.table} (id bigserial PRIMARY KEY)` : `DROP TABLE IF EXISTS ${probe.table}`);
        if (probe.exists) downgrade.push(`DROP TABLE IF EXISTS ${probe.table}`);
      } else if (probe.exists) {
        // The fixture's schema has only the tables bai-migrate reads: a column's table is made where missing.
        upgrade.push(`CREATE TABLE IF NOT EXISTS ${probe.table} (id bigserial PRIMARY KEY)`);
        upgrade.push(`ALTER TABLE ${probe.table} ADD COLUMN IF NOT EXISTS ${probe.column} text`);
        downgrade.push(`ALTER TABLE IF EXISTS ${probe.table} DROP COLUMN IF EXISTS ${probe.column}`);
      } else {
        upgrade.push(`ALTER TABLE IF EXISTS ${probe.table} DROP COLUMN IF EXISTS ${probe.column}`);
      }
    }
  }
  for (const column of HOPS.flatMap((hop) => hop.steps.flatMap(columnsKeptBy)).filter((c) => c.addedBy === revision)) {
    const type = STANDIN_COLUMN_TYPES[`${column.table}.${column.column}`];
    if (!type) throw new Error(`the stand-in has no type for ${column.table}.${column.column} (STANDIN_COLUMN_TYPES)`);
    upgrade.push(`ALTER TABLE IF EXISTS ${column.table} ADD COLUMN IF NOT EXISTS ${column.column} ${type}`);
    downgrade.push(`ALTER TABLE IF EXISTS ${column.table} DROP COLUMN IF EXISTS ${column.column}`);
  }
  return { upgrade, downgrade };
}

/**
 * What a stand-in revision does besides DDL, where bai-migrate's steps depend on it: 24.09's
 * 1d42c726d8a3 reads etcd config/docker/registry through manager.toml (BACKEND_CONFIG_FILE), makes a
 * container_registries row per registry and project (Docker Hub without one: "library"; local: none;
 * any other without one stops it), links every image to the row its name starts with (the rest to a
 * "local" row), and deletes the etcd prefix before the transaction commits
 * (backend.ai@24.09.14:src/ai/backend/manager/models/alembic/versions/1d42c726d8a3_migrate_container_registries_from_etcd_to_psql.py).
 * The stand-in reaches etcd through its JSON gateway, with Python's standard library only.
 */
const STANDIN_BODIES: Record<string, readonly string[]> = {
  '1d42c726d8a3': [
    'import base64, json, os, tomllib, urllib.request',
    'from urllib.parse import unquote',
    'import sqlalchemy as sa',
    // Without a manager.toml (a template built by the tests' own alembic run) there are no registries to move.
    "config = os.environ.get('BACKEND_CONFIG_FILE')",
    "etcd = tomllib.load(open(config, 'rb'))['etcd'] if config else {'addr': {'host': '', 'port': 0}, 'namespace': ''}",
    "base = f\"http://{etcd['addr']['host']}:{etcd['addr']['port']}/v3/kv/\"",
    'root = f"/sorna/{etcd[\'namespace\']}/config/docker/registry/"',
    'b64 = lambda text: base64.b64encode(text.encode()).decode()',
    'end = root[:-1] + chr(ord(root[-1]) + 1)',
    'def call(path, body):',
    "    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={'Content-Type': 'application/json'})",
    '    return json.load(urllib.request.urlopen(request))',
    'registries = {}',
    "for kv in (call('range', {'key': b64(root), 'range_end': b64(end)}).get('kvs', []) if config else []):",
    "    key = base64.b64decode(kv['key']).decode()[len(root):]",
    "    name, _, field = key.partition('/')",
    "    registries.setdefault(unquote(name), {})[field] = base64.b64decode(kv.get('value', '')).decode()",
    'op.execute("CREATE TABLE container_registries (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), url varchar(512), registry_name varchar(50), type text NOT NULL DEFAULT \'docker\', project varchar(255), username varchar(255), password text, ssl_verify boolean DEFAULT true, is_global boolean DEFAULT true)")',
    'bind = op.get_bind()',
    'for name, fields in registries.items():',
    "    kind = fields.get('type', 'docker')",
    "    projects = fields['project'].split(',') if fields.get('project') else []",
    '    if not projects:',
    "        if kind == 'local': projects = [None]",
    "        elif kind == 'docker' and name == 'index.docker.io': projects = ['library']",
    '        else: raise Exception(f\'ContainerRegistryRow.project is required! Please put the value to "config/docker/registry/{name}/project" before migration.\')',
    '    for project in projects:',
    "        bind.execute(sa.text('INSERT INTO container_registries (url, registry_name, type, project, username, password) VALUES (:url, :name, :kind, :project, :username, :password)'), {'url': fields.get(''), 'name': name, 'kind': kind, 'project': project, 'username': fields.get('username'), 'password': fields.get('password')})",
    'op.execute("ALTER TABLE images ADD COLUMN registry_id uuid")',
    // A stand-in schema built from nothing has an images table without names: nothing to link there.
    "if bind.execute(sa.text(\"SELECT 1 FROM information_schema.columns WHERE table_name = 'images' AND column_name = 'name'\")).first():",
    "    op.execute(\"UPDATE images i SET registry_id = r.id FROM container_registries r WHERE r.project IS NOT NULL AND i.name LIKE r.registry_name || '/' || r.project || '%'\")",
    "op.execute(\"INSERT INTO container_registries (registry_name, type, url) SELECT 'local', 'local', 'http://localhost' WHERE EXISTS (SELECT 1 FROM images WHERE registry_id IS NULL) AND NOT EXISTS (SELECT 1 FROM container_registries WHERE type = 'local')\")",
    'op.execute("UPDATE images SET registry_id = (SELECT id FROM container_registries WHERE type = \'local\' LIMIT 1) WHERE registry_id IS NULL")',
    'op.execute("ALTER TABLE images ALTER COLUMN registry_id SET NOT NULL")',
    "if config: call('deleterange', {'key': b64(root), 'range_end': b64(end)})",
  ],
};

/** One revision of `line`'s graph as a stand-in script; `body` (Python lines) replaces what STANDIN_BODIES gives it. */
export function revisionFile(line: string, revision: string, body: readonly string[] = STANDIN_BODIES[revision] ?? []): string {
  const parents = parentsIn(line, revision);
  const down = parents.length === 0 ? 'None' : parents.length === 1 ? `'${parents[0]}'` : `(${parents.map((p) => `'${p}'`).join(', ')})`;
  const ddl = standinDdl(revision);
  const statement = (sql: string) => `    op.execute(${JSON.stringify(sql)})`;
  return [
    `revision = '${revision}'`,
    `down_revision = ${down}`,
    'branch_labels = None',
    'depends_on = None',
    'from alembic import op',
    'def upgrade():',
    '    op.execute("CREATE TABLE IF NOT EXISTS standin_applied (revision text PRIMARY KEY, seq bigserial)")',
    `    op.execute("INSERT INTO standin_applied (revision) VALUES ('${revision}')")`,
    ...ddl.upgrade.map(statement),
    ...body.map((line) => `    ${line}`),
    'def downgrade():',
    `    op.execute("DELETE FROM standin_applied WHERE revision = '${revision}'")`,
    ...ddl.downgrade.map(statement),
    '',
  ].join('\n');
}

/** Writes every revision of `line`'s graph into `versions` (a folder that exists); `bodies` replace some revisions' bodies. */
export function writeGraphRevisions(line: string, versions: string, bodies: Readonly<Record<string, readonly string[]>> = {}): void {
  for (const revision of revisionsOf(line)) writeFileSync(join(versions, `${revision}.py`), revisionFile(line, revision, bodies[revision]));
}

/**
 * A project holding every revision of `line`'s graph; returns how to run its alembic. `bodies`
 * give some revisions other Python (a revision made to fail on PostgreSQL, say).
 */
export function graphAlembic(line: string, bodies: Readonly<Record<string, readonly string[]>> = {}): AlembicSetup {
  const dir = mkdtempSync(join(tmpdir(), `bai-graph-${line}-`));
  mkdirSync(join(dir, 'versions'));
  cpSync(join(FIXTURE, 'env.py'), join(dir, 'env.py'));
  cpSync(join(FIXTURE, 'script.py.mako'), join(dir, 'script.py.mako'));
  writeGraphRevisions(line, join(dir, 'versions'), bodies);
  // The fixture's ini (its logging sections; script_location is %(here)s), without its comment.
  const ini = readFileSync(join(FIXTURE, 'alembic.ini'), 'utf8').replace(/^#.*\n/gm, '');
  writeFileSync(join(dir, 'alembic.ini'), `# A stand-in built from the revision graph of Backend.AI ${line}.\n${ini}`);
  return { command: ALEMBIC_COMMAND.split(' '), config: join(dir, 'alembic.ini') };
}

/** The last revision the fixture's own scripts reach (22.03's head): graph stand-ins start from its tables. */
const FIXTURE_HEAD = '81c264528f20';

/**
 * A template database at `revision` of `line`: the fixture's tables at 22.03's head, then the
 * line's stand-in revisions up to `revision` (their DDL adds what bai-migrate checks), made once
 * per test bed. A deployment copies it (SeedOptions.schemaOf).
 */
export async function graphTemplate(admin: Admin, info: TestbedInfo, line: string, revision: string): Promise<string> {
  // By line too: lines may share a head over different histories (24.09.6+ and 25.2.0 end at ecc9f6322be4).
  const name = `tmpl_graph_${line.replace(/\W/g, '_')}_${revision}`;
  const { rows } = await admin.pg.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (rows.length > 0) return name;
  await admin.pg.query(`DROP DATABASE IF EXISTS ${name}_building`);
  await admin.pg.query(`CREATE DATABASE ${name}_building TEMPLATE ${await templateFor(admin, info, FIXTURE_HEAD)}`);
  await runAlembic(graphAlembic(line), { ...info.postgres, database: `${name}_building`, source: 'test' }, ['upgrade', revision]);
  await admin.pg.query(`ALTER DATABASE ${name}_building RENAME TO ${name}`);
  return name;
}
