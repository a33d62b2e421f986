/**
 * alembic's offline SQL (`--sql`) for the dry run. A revision that reads the data it migrates
 * (a back-fill) cannot run offline, and alembic then stops the whole range with that revision's
 * error. The range is then taken again one revision at a time: the dry run shows the SQL of every
 * revision that runs offline and names each one that cannot, with alembic's own words, instead
 * of showing nothing.
 */
import type { PostgresTarget } from '../stores/connections.js';
import { AlembicError, runAlembic, type AlembicSetup } from './alembic.js';

/** One revision of the range: alembic's `from:to` for it alone. */
export interface RevisionStep {
  readonly revision: string;
  readonly from: string;
  readonly to: string;
}

export interface OfflineSql {
  readonly sql: string;
  /** Revisions alembic could not render offline, with the last line of its error. */
  readonly cannot: ReadonlyArray<{ readonly revision: string; readonly why: string }>;
  /** Revisions not run at all, not even offline, because they act outside PostgreSQL (releases/outside-database.ts). */
  readonly withheld?: ReadonlyArray<{ readonly revision: string; readonly why: string }>;
}

export async function offlineSql(
  setup: AlembicSetup,
  target: PostgresTarget,
  command: 'upgrade' | 'downgrade',
  range: string,
  steps: readonly RevisionStep[],
  withhold: ReadonlyArray<{ readonly revision: string; readonly why: string }> = [],
): Promise<OfflineSql> {
  const withheld = withhold.filter((w) => steps.some((s) => s.revision === w.revision));
  if (withheld.length === 0) {
    try {
      return { sql: await runAlembic(setup, target, [command, range, '--sql']), cannot: [] };
    } catch (error) {
      // alembic that does not start at all fails every revision alike: that is the error to show.
      if (!(error instanceof AlembicError) || error.kind !== 'failed' || steps.length <= 1) throw error;
    }
  }
  let sql = '';
  const cannot: Array<{ revision: string; why: string }> = [];
  for (const step of steps) {
    const held = withheld.find((w) => w.revision === step.revision);
    if (held) {
      sql += `-- ${command} ${step.revision}: not run in a dry run, not even offline: it ${held.why}\n`;
      continue;
    }
    try {
      sql += `-- ${command} ${step.revision}\n${await runAlembic(setup, target, [command, `${step.from}:${step.to}`, '--sql'])}`;
    } catch (error) {
      if (!(error instanceof AlembicError) || error.kind !== 'failed') throw error;
      // The cause alembic gave, without "alembic upgrade a:b --sql failed (exit 1): ".
      const why = error.message.replace(/^alembic .*? failed \(exit \d+\): /, '');
      cannot.push({ revision: step.revision, why });
      sql += `-- ${command} ${step.revision}: cannot run offline (${why})\n`;
    }
  }
  return { sql, cannot, withheld };
}
