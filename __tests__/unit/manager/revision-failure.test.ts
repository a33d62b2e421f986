/**
 * A failed alembic run taken apart, from real output: __tests__/fixtures/alembic-failures holds the
 * stderr of real runs (the machine's alembic 1.8, SQLAlchemy 1.4, asyncpg and psycopg2 against the
 * test bed's PostgreSQL) of stand-in 24.09 revisions made to fail on a foreign key, captured from
 * integration/revision-failure.test.ts: apply-revisions.ts applying ten revisions by id (asyncpg),
 * and one (psycopg2).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { revisionFailure } from '../../../src/manager/revision-failure.js';
import { pythonCause, pythonFailure } from '../../../src/manager/cli.js';

const real = (name: string) => readFileSync(join(import.meta.dirname, '../../fixtures/alembic-failures', name), 'utf8');
const ASYNCPG = real('asyncpg-fk-violation.txt');
const PSYCOPG2 = real('psycopg2-fk-violation.txt');

describe('revisionFailure', () => {
  it('asyncpg: the last revision alembic logged as running, the line of its script, the cause, the constraint, the DETAIL and its key', () => {
    expect(revisionFailure(ASYNCPG)).toEqual({
      revision: 'd7df3baf3779',
      direction: 'upgrade',
      running: 'upgrade 5d92c9cc930c -> d7df3baf3779',
      doing: 'upgrade() line 13 of d7df3baf3779.py: op.get_bind().execute(sa.text("INSERT INTO standin_projects (name, resource_policy) VALUES (:name, :policy)"), row)',
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
    });
  });

  it('psycopg2: the same parts, with the exception class psycopg2 names', () => {
    const failure = revisionFailure(PSYCOPG2)!;
    expect(failure.revision).toBe('fdb2dcdb8811');
    expect(failure.running).toBe('upgrade d7df3baf3779 -> fdb2dcdb8811');
    expect(failure.cause).toMatchObject({ exception: 'sqlalchemy.exc.IntegrityError', driverException: 'psycopg2.errors.ForeignKeyViolation', constraint: 'standin_projects_resource_policy_fkey' });
    expect(failure.rows).toEqual([{ table: 'standin_projects', key: '(resource_policy)=(default)', problem: 'is not present in table "standin_policies"' }]);
  });

  it('never carries the statement SQLAlchemy printed nor its parameters', () => {
    for (const output of [ASYNCPG, PSYCOPG2]) {
      expect(output).toContain("'project-name-in-parameters'");
      const text = JSON.stringify(revisionFailure(output));
      expect(text).not.toContain('project-name-in-parameters');
      expect(text).not.toContain('[SQL:');
      expect(text).not.toContain('%(name)s');
    }
  });

  it("a downgrade names the revision whose downgrade() ran, and a merge's two parents stay one revision", () => {
    // alembic's own log lines (alembic/runtime/migration.py, "Running %s" of a RevisionStep), before the real asyncpg exception (its frames left out).
    const cause = ASYNCPG.slice(ASYNCPG.lastIndexOf('sqlalchemy.exc.IntegrityError'));
    expect(revisionFailure(`INFO  [alembic.runtime.migration] Running downgrade ecc9f6322be4 -> e9e574a6e22d, remove fk constraint from endpoints\n${cause}`)).toMatchObject({
      revision: 'ecc9f6322be4',
      direction: 'downgrade',
      running: 'downgrade ecc9f6322be4 -> e9e574a6e22d, remove fk constraint from endpoints',
    });
    expect(revisionFailure(`INFO  [alembic.runtime.migration] Running upgrade 3596bc12ec09, 20218a73401b -> a7ca9f175d5f, merge\n${cause}`)!.revision).toBe('a7ca9f175d5f');
  });

  it("where alembic logs nothing at INFO, the script the traceback stops in names the revision (upstream's files: <revision>_<slug>.py)", () => {
    const quiet = ASYNCPG.split('\n')
      .filter((line) => !line.startsWith('INFO '))
      .join('\n')
      .replace('/versions/d7df3baf3779.py', '/versions/d7df3baf3779_add_vfolders_domain_name.py');
    const failure = revisionFailure(quiet)!;
    expect(failure.revision).toBe('d7df3baf3779');
    expect(failure.running).toBeUndefined();
    expect(failure.doing).toMatch(/^upgrade\(\) line 13 of d7df3baf3779_add_vfolders_domain_name\.py: /);
  });

  it('a revision id that is not all hex (25.19 has 6f8a4c0d2e3g) is named as any other', () => {
    const quiet = ASYNCPG.split('\n')
      .filter((line) => !line.startsWith('INFO '))
      .join('\n')
      .replace('/versions/d7df3baf3779.py', '/versions/6f8a4c0d2e3g_add_routing_revision_and_traffic_status.py');
    expect(revisionFailure(quiet)!.revision).toBe('6f8a4c0d2e3g');
  });

  it("a revision's own bare Exception (24.09's 1d42c726d8a3 raises one for a registry without a project) is the cause", () => {
    // The real run's frames, ending in the exception the upstream revision raises instead of the database's.
    const raised = `${ASYNCPG.slice(0, ASYNCPG.lastIndexOf('sqlalchemy.exc.IntegrityError'))}Exception: ContainerRegistryRow.project is required! Please put the value to "config/docker/registry/cr.example.com/project" before migration.\n`;
    expect(revisionFailure(raised)!.cause).toEqual({
      exception: 'Exception',
      message: 'ContainerRegistryRow.project is required! Please put the value to "config/docker/registry/cr.example.com/project" before migration.',
    });
  });

  it('a DETAIL of a unique key names both columns and values; one with the whole failing row leaves the values out', () => {
    const unique = ASYNCPG.replace(
      /DETAIL: {2}Key \(resource_policy\)=\(default\) is not present in table "standin_policies"\./g,
      'DETAIL:  Key (name, domain_name)=(model-store, default) already exists.',
    );
    expect(revisionFailure(unique)!.rows).toEqual([{ table: 'standin_projects', key: '(name, domain_name)=(model-store, default)', problem: 'already exists' }]);
    const notNull = ASYNCPG.replace(/DETAIL: {2}Key .*\./g, 'DETAIL:  Failing row contains (7, secret-value, null).');
    expect(revisionFailure(notNull)!.cause!.detail).toBe("Failing row contains (…: the row's values are left out)");
    expect(JSON.stringify(revisionFailure(notNull))).not.toContain('secret-value');
  });

  it('is undefined for output with neither a revision running nor an exception', () => {
    expect(revisionFailure('INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n')).toBeUndefined();
  });
});

describe('pythonCause and pythonFailure share one parse', () => {
  it('pythonFailure is pythonCause on one line with the key values left out', () => {
    expect(pythonCause(ASYNCPG)!.detail).toBe('Key (resource_policy)=(default) is not present in table "standin_policies".');
    expect(pythonFailure(ASYNCPG)).toBe(
      `sqlalchemy.exc.IntegrityError: (sqlalchemy.dialects.postgresql.asyncpg.IntegrityError) <class 'asyncpg.exceptions.ForeignKeyViolationError'>: insert or update on table "standin_projects" violates foreign key constraint "standin_projects_resource_policy_fkey" DETAIL:  Key (resource_policy)=(…) is not present in table "standin_policies".`,
    );
  });
});
