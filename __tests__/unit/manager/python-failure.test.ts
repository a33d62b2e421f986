/** A failed child is reported by its cause, never by SQLAlchemy's statement and its parameters. */
import { describe, expect, it } from 'vitest';
import { pythonFailure } from '../../../src/manager/cli.js';

const ids = Array.from({ length: 2000 }, (_, i) => `'00000000-0000-4000-8000-${String(i).padStart(12, '0')}'`);

/** What 24.12.1's `mgr clear-history` ends with when routings still point at old sessions (psycopg2's and SQLAlchemy's format). */
const ROUTINGS_FAILURE = [
  '2026-12-01 03:30:02.114 INFO ai.backend.manager.cli [1] Deleting old records...',
  'Traceback (most recent call last):',
  '  File "/opt/venv/lib/python3.12/site-packages/sqlalchemy/engine/base.py", line 1967, in _exec_single_context',
  '    self.dialect.do_execute(',
  'asyncpg.exceptions.ForeignKeyViolationError: update or delete on table "sessions" violates foreign key constraint "fk_routings_session_sessions" on table "routings"',
  'DETAIL:  Key (id)=(00000000-0000-4000-8000-000000000001) is still referenced from table "routings".',
  '',
  'The above exception was the direct cause of the following exception:',
  'sqlalchemy.exc.IntegrityError: (sqlalchemy.dialects.postgresql.asyncpg.IntegrityError) <class \'asyncpg.exceptions.ForeignKeyViolationError\'>: update or delete on table "sessions" violates foreign key constraint "fk_routings_session_sessions" on table "routings"',
  'DETAIL:  Key (id)=(00000000-0000-4000-8000-000000000001) is still referenced from table "routings".',
  `[SQL: DELETE FROM sessions WHERE sessions.id IN (${ids.map(() => '$1::UUID').join(', ')})]`,
  `[parameters: (${ids.join(', ')})]`,
  '(Background on this error at: https://sqlalche.me/e/20/gkpj)',
].join('\n');

describe('pythonFailure', () => {
  it('names the exception, its constraint and its DETAIL without key values, and none of the statement or its parameters', () => {
    const cause = pythonFailure(ROUTINGS_FAILURE)!;
    expect(cause).toBe(
      `sqlalchemy.exc.IntegrityError: (sqlalchemy.dialects.postgresql.asyncpg.IntegrityError) <class 'asyncpg.exceptions.ForeignKeyViolationError'>: update or delete on table "sessions" violates foreign key constraint "fk_routings_session_sessions" on table "routings" DETAIL:  Key (id)=(…) is still referenced from table "routings".`,
    );
    expect(ROUTINGS_FAILURE.length).toBeGreaterThan(90_000);
    expect(cause).not.toContain('00000000-0000-4000');
  });

  it('is undefined for output without an exception', () => {
    expect(pythonFailure('Usage: backend.ai mgr [OPTIONS]\nError: No such command')).toBeUndefined();
  });
});
