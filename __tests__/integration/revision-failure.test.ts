/**
 * A migration that stops inside an alembic revision says which revision, what it was doing, the
 * cause (exception, constraint, DETAIL; never the statement's parameters), the rows the DETAIL
 * names, and whether a preflight check covers that revision. The revisions here are stand-ins of
 * 24.09's revision graph (support/graph-alembic.ts) whose body is made to fail for real: a real
 * foreign key violation raised by the test bed's PostgreSQL, through the machine's real alembic,
 * SQLAlchemy and asyncpg (as 24.09's env.py connects) or psycopg2 (as 22.03's does).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateInputs, useDeployments } from '../support/deployment.js';
import { graphAlembic, graphTemplate } from '../support/graph-alembic.js';
import { standinManagerCli } from '../support/standin-manager-cli.js';
import { runEngine, tempDir } from '../support/run.js';
import { localImageAvailable, LOCAL_IMAGE } from '../support/testbed.js';
import { startServers, type DisposableServers } from '../../src/rehearsal/servers.js';
import { latestRelease } from '../../src/releases/releases.js';
import { AlembicError } from '../../src/manager/alembic.js';
import { applyRevisions } from '../../src/manager/apply-revisions.js';
import { rehearsalComment, renderMarkdown, renderText } from '../../src/core/report/index.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

/** A revision body that inserts a project whose resource policy does not exist: PostgreSQL refuses it on the foreign key. */
const FK_VIOLATION = [
  'import sqlalchemy as sa',
  'op.execute("CREATE TABLE standin_policies (name text PRIMARY KEY)")',
  'op.execute("CREATE TABLE standin_projects (name text PRIMARY KEY, resource_policy text NOT NULL REFERENCES standin_policies (name))")',
  // Bound parameters, which SQLAlchemy prints after the statement: the project's name must never reach the report.
  "row = {'name': 'project-name-in-parameters', 'policy': 'default'}",
  'op.get_bind().execute(sa.text("INSERT INTO standin_projects (name, resource_policy) VALUES (:name, :policy)"), row)',
];

async function deploy2403() {
  const template = await graphTemplate(admin(), info, '24.03', latestRelease('24.03').head);
  return deploy({ schemaOf: { template, async beforeSeed() {}, async afterSeed() {} } });
}

const inputsFor = (toml: string, failIn: string) =>
  migrateInputs(toml, { 'from-version': '24.03', 'to-version': '24.09', 'alembic-config': graphAlembic('24.09', { [failIn]: FK_VIOLATION }).config, 'manager-command': standinManagerCli() });

describe('a migration that fails inside a revision (stand-in revisions failing on a real PostgreSQL foreign key)', () => {
  it('stand-in d7df3baf3779 (asyncpg): names the revision, the cause, the key, and that vfolder-domains checked it and passed: a gap to report', async () => {
    const deployment = await deploy2403();
    const summaryFile = join(tempDir(), 'summary.md');
    const { report } = await runEngine({ ...inputsFor(deployment.writeManagerToml(), 'd7df3baf3779'), 'summary-file': summaryFile });
    expect(report.outcome).toBe('failure');
    const failure = report.failure!;
    expect(failure).toMatchObject({
      hop: '24.03 → 24.09',
      step: 'schema',
      revision: 'd7df3baf3779',
      direction: 'upgrade',
      statement: 'INSERT INTO standin_projects',
      cause: {
        exception: 'sqlalchemy.exc.IntegrityError',
        driverException: 'asyncpg.exceptions.ForeignKeyViolationError',
        message: 'insert or update on table "standin_projects" violates foreign key constraint "standin_projects_resource_policy_fkey"',
        constraint: 'standin_projects_resource_policy_fkey',
        table: 'standin_projects',
        detail: 'Key (resource_policy)=(default) is not present in table "standin_policies".',
      },
      rows: [{ table: 'standin_projects', key: '(resource_policy)=(default)', problem: 'is not present in table "standin_policies"' }],
      preflight: { hop: '24.03 → 24.09', step: 'vfolder-domains', status: 'ok' },
    });
    // alembic's own line for the revision it was running, and the line of the script it stopped at.
    expect(failure.running).toMatch(/^upgrade \w+ -> d7df3baf3779$/);
    expect(failure.doing).toMatch(/^upgrade\(\) line \d+ of d7df3baf3779\.py: op\.get_bind\(\)\.execute\(sa\.text\("INSERT INTO standin_projects/);
    expect(failure.remedy).toContain("Preflight's vfolder-domains check (24.03 → 24.09) looks for what d7df3baf3779 stops on");
    expect(failure.remedy).toContain('preflight did not predict this. Please report it');
    expect(report.error).toContain('in revision d7df3baf3779');
    expect(report.error).not.toContain('Fix the cause and run migrate again');
    // The preflight row the failure refers to is the run's own.
    expect(report.entries.some((e) => e.phase === 'preflight' && e.step === 'vfolder-domains' && e.status === 'ok')).toBe(true);
    // The bound parameters and the statement SQLAlchemy printed stay out of every rendering.
    const shown = [JSON.stringify(report), renderMarkdown(report), renderText(report)];
    for (const text of shown) {
      expect(text).not.toContain('project-name-in-parameters');
      expect(text).not.toContain('[parameters:');
    }
    expect(renderMarkdown(report)).toContain('Key (resource_policy)=(default) is not present in table "standin_policies".');
    // The CLI's summary-file is that Markdown: what to fix comes before the collapsed table of every step.
    const summary = readFileSync(summaryFile, 'utf8');
    expect(summary).toBe(renderMarkdown(report));
    expect(summary.indexOf('| DETAIL | Key (resource_policy)=(default) is not present in table "standin_policies". |')).toBeLessThan(summary.indexOf('<details><summary>Every step'));
    // The transaction rolled back: nothing of the failing revision is left.
    const { rows } = await deployment.pg.query("SELECT to_regclass('standin_projects') AS t");
    expect(rows[0].t).toBeNull();
  }, 300_000);

  it('stand-in fdb2dcdb8811 (asyncpg): a revision no preflight check covers says so', async () => {
    const deployment = await deploy2403();
    const { report } = await runEngine(inputsFor(deployment.writeManagerToml(), 'fdb2dcdb8811'));
    expect(report.failure).toMatchObject({ revision: 'fdb2dcdb8811', rows: [{ key: '(resource_policy)=(default)' }] });
    expect(report.failure!.preflight).toBeUndefined();
    expect(report.failure!.remedy).toContain('No preflight check of bai-migrate looks for what fdb2dcdb8811 stops on: fix the rows named above (standin_projects (resource_policy)=(default))');
  }, 300_000);

  it('stand-in fdb2dcdb8811 applied by id with psycopg2: the same cause, with the driver psycopg2 names', async () => {
    const template = await graphTemplate(admin(), info, '24.03', latestRelease('24.03').head);
    const database = `revfail_${Date.now()}`;
    await admin().pg.query(`CREATE DATABASE ${database} TEMPLATE ${template}`);
    try {
      const setup = { ...graphAlembic('24.09', { fdb2dcdb8811: FK_VIOLATION }), driver: 'psycopg2' as const };
      const error = await applyRevisions(setup, { ...info.postgres, database, source: 'test' }, ['fdb2dcdb8811']).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AlembicError);
      const failure = (error as AlembicError).failure!;
      expect(failure).toMatchObject({
        revision: 'fdb2dcdb8811',
        statement: 'INSERT INTO standin_projects',
        cause: {
          exception: 'sqlalchemy.exc.IntegrityError',
          driverException: 'psycopg2.errors.ForeignKeyViolation',
          constraint: 'standin_projects_resource_policy_fkey',
          detail: 'Key (resource_policy)=(default) is not present in table "standin_policies".',
        },
        rows: [{ table: 'standin_projects', key: '(resource_policy)=(default)' }],
      });
      expect((error as AlembicError).message).toContain('in revision fdb2dcdb8811');
      expect(JSON.stringify(failure)).not.toContain('project-name-in-parameters');
    } finally {
      await admin().pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    }
  }, 300_000);
});

describe('a rehearsal that fails inside a revision (stand-in d7df3baf3779 failing on a real PostgreSQL foreign key)', () => {
  let servers: DisposableServers;
  beforeAll(async () => {
    servers = await startServers({ line: '21.09', localImage: localImageAvailable() ? LOCAL_IMAGE : undefined });
  }, 120_000);
  afterAll(async () => servers?.stop());

  it('the PR comment says what to fix before anything else: the revision, the cause, the key, the preflight check that passed; every row and the plan collapsed', async () => {
    const deployment = await deploy2403();
    const toml = deployment.writeManagerToml();
    const file = join(tempDir(), 'snapshot.jsonl.gz');
    const snapshot = await runEngine({ command: 'snapshot', 'manager-config': toml, 'snapshot-file': file });
    expect(snapshot.report.error).toBeUndefined();
    const { report } = await runEngine({
      ...inputsFor(toml, 'd7df3baf3779'),
      command: 'rehearse',
      'snapshot-file': file,
      'measure-growth': 'false',
      'rehearsal-servers': 'given',
      'postgres-url': `postgresql://postgres:${servers.postgres.password}@${servers.postgres.host}:${servers.postgres.port}/postgres`,
      'redis-url': `redis://:${servers.redis.password}@${servers.redis.host}:${servers.redis.port}`,
      'etcd-endpoints': `${servers.etcd.host}:${servers.etcd.port}`,
    });
    expect(report.outcome).toBe('failure');
    expect(report.error).toMatch(/^the migration failed in the rehearsal: 24\.03 → 24\.09 schema failed: .* in revision d7df3baf3779: /s);
    expect(report.failure).toMatchObject({
      revision: 'd7df3baf3779',
      cause: { constraint: 'standin_projects_resource_policy_fkey' },
      rows: [{ key: '(resource_policy)=(default)' }],
      preflight: { step: 'vfolder-domains', status: 'ok' },
    });
    const { body } = rehearsalComment(report);
    const at = (text: string) => {
      expect(body).toContain(text);
      return body.indexOf(text);
    };
    expect(at('### What to fix')).toBeLessThan(at('<details><summary>Plan'));
    expect(at('| Rows | standin_projects `(resource_policy)=(default)` is not present in table "standin_policies" |')).toBeLessThan(at('<details><summary>Every step'));
    expect(at('| Preflight | vfolder-domains (24.03 → 24.09) checks this revision: ✅ passed |')).toBeGreaterThan(0);
    expect(at('preflight did not predict this. Please report it')).toBeGreaterThan(0);
    expect(body).not.toContain('project-name-in-parameters');
    // The report of this real rehearsal is the unit tests' fixture of a failed one (pr-comment.test.ts); times, ports and temporary names made stable.
    if (process.env.UPDATE_REPORT_FIXTURES) {
      const ports = [servers.postgres.port, servers.redis.port, servers.etcd.port, info.postgres.port, info.redis.port, info.etcd.port].map(String);
      let text = JSON.stringify(report, null, 2)
        .replace(/\d{4}-\d{2}-\d{2}T\d{2}[:-]\d{2}[:-]\d{2}([.-]\d+)?Z/g, (t) => (t.includes(':') ? '2026-01-01T00:00:00.000Z' : '2026-01-01T00-00-00-000Z'))
        .replace(/\/tmp\/(bai-[a-z0-9.-]+?)-[A-Za-z0-9]{6}\b/g, '/tmp/$1')
        .replace(/bai_rehearsal_[0-9a-f]{8}/g, 'bai_rehearsal_fixture')
        .replaceAll(report.rehearsal!.namespace, 'ns-fixture');
      for (const port of ports) text = text.replaceAll(`:${port}`, ':PORT');
      writeFileSync(join(import.meta.dirname, '../fixtures/rehearsal/failed-report.json'), `${text}\n`);
    }
  }, 300_000);
});
