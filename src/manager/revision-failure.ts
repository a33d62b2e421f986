/**
 * A failed alembic run taken apart: which revision was running (alembic logs "Running upgrade A ->
 * B, doc" at INFO before each one, in `alembic upgrade` and in apply-revisions.ts alike), where in
 * its script it stopped, the cause (pythonCause: exception, constraint, DETAIL; never the statement
 * or its parameters), and the rows the DETAIL names by key.
 */
import type { RevisionFailure } from '../core/report/model.js';
import { pythonCause } from './cli.js';

/** Undefined when the output shows neither a revision running nor an exception. */
export function revisionFailure(output: string): RevisionFailure | undefined {
  const running = [...output.matchAll(/Running ((upgrade|downgrade) (\S.*?) -> (\S+?)(?:,.*)?)\s*$/gm)].at(-1);
  const cause = pythonCause(output);
  if (!running && !cause) return undefined;
  const direction = running?.[2] as 'upgrade' | 'downgrade' | undefined;
  // A downgrade from B to A runs B's downgrade(); a merge's from is "A, B".
  const logged = running && (direction === 'upgrade' ? running[4] : running[3]!.split(', ')[0]);
  const frame = scriptFrame(output);
  // The script the traceback stops in names it too ("308bcecec5c2_add_groups_type.py"), also where alembic logs below INFO.
  const revision = frame?.revision ?? logged;
  const { line: _line, ...parts } = cause ?? { line: '' };
  return {
    ...(revision && { revision }),
    ...(revision && revision === logged && { direction, running: running![1]!.trim() }),
    ...optional('doing', frame?.doing),
    ...optional('statement', statementKind(output)),
    ...(cause && { cause: parts as NonNullable<RevisionFailure['cause']> }),
    rows: cause?.detail ? keyedRows(cause.detail, cause.table) : [],
  };
}

const optional = <K extends string>(key: K, value: string | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, string>));

/**
 * The traceback's innermost frame in a revision script (…/versions/…py): "upgrade() line 42 of
 * 308bcecec5c2_add_groups_type.py: op.execute(…)", and the revision its file name starts with.
 */
function scriptFrame(output: string): { doing: string; revision?: string } | undefined {
  const lines = output.split('\n');
  const at = lines.findLastIndex((line) => /^\s*File ".*\/versions\/[^/"]+\.py", line \d+, in \S+/.test(line));
  if (at < 0) return undefined;
  const [, file, number, fn] = /File ".*\/versions\/([^/"]+\.py)", line (\d+), in (\S+)/.exec(lines[at]!)!;
  const code = lines[at + 1]?.trim() ?? '';
  const shown = code && !code.startsWith('File ') && !/^[\^~ ]+$/.test(code) ? `: ${code.length > 160 ? `${code.slice(0, 160)}…` : code}` : '';
  // Ids are alembic's 12 characters, not always hex: backend.ai@25.19.2 has 6f8a4c0d2e3g.
  const revision = /^([0-9a-z]{12})(?:_|\.py$)/.exec(file!)?.[1];
  return { doing: `${fn}() line ${number} of ${file}${shown}`, ...(revision && { revision }) };
}

/** The failing statement's verb and table from SQLAlchemy's "[SQL: …]", without anything after them. */
function statementKind(output: string): string | undefined {
  const sql = /\[SQL: \s*([\s\S]{0,300})/.exec(output)?.[1];
  if (!sql) return undefined;
  const match =
    /^(INSERT INTO|UPDATE|DELETE FROM|ALTER TABLE|CREATE TABLE|DROP TABLE|CREATE (?:UNIQUE )?INDEX|DROP INDEX|CREATE TYPE|DROP TYPE|ALTER TYPE|SELECT|WITH)\b\s*(?:(?:IF (?:NOT )?EXISTS|ONLY)\s+)?("?[\w.]+"?)?/i.exec(
      sql.trim(),
    );
  if (!match) return undefined;
  const verb = match[1]!.toUpperCase();
  return verb === 'SELECT' || verb === 'WITH' || !match[2] ? verb : `${verb} ${match[2]}`;
}

/** Each "Key (columns)=(values) …" of a DETAIL, with what it says of that key. */
function keyedRows(detail: string, table: string | undefined): RevisionFailure['rows'] {
  const rows = [...detail.matchAll(/Key (\([^)]*\)=\((?:[^()]|\([^)]*\))*\))\s*([^.]*)/g)].map((m) => ({
    ...(table && { table }),
    key: m[1]!.length > 240 ? `${m[1]!.slice(0, 240)}…` : m[1]!,
    problem: m[2]!.trim(),
  }));
  return rows;
}
