/**
 * alembic's offline SQL (`--sql`) for the dry run. A revision that reads the data it migrates
 * (a back-fill) cannot run offline, and alembic then stops the whole range with that revision's
 * error. The range is then taken again one revision at a time: the dry run shows the SQL of every
 * revision that runs offline and names each one that cannot, with alembic's own words, instead
 * of showing nothing.
 */
import type { PostgresTarget } from '../stores/connections.js';
import { AlembicError, runAlembic, type AlembicSetup } from './alembic.js';
import { applyRevisions } from './apply-revisions.js';

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

type Withheld = ReadonlyArray<{ readonly revision: string; readonly why: string }>;

/** alembic's own range: `range` at once, else each of `steps` (`from:to` of one revision). */
export function offlineSql(setup: AlembicSetup, target: PostgresTarget, command: 'upgrade' | 'downgrade', range: string, steps: readonly RevisionStep[], withhold: Withheld = []): Promise<OfflineSql> {
  const revisions = steps.map((s) => s.revision);
  // The range cannot leave a revision out: with one withheld, it is taken revision by revision.
  const whole = withhold.some((w) => revisions.includes(w.revision)) ? undefined : () => runAlembic(setup, target, [command, range, '--sql']);
  return renderOffline(
    command,
    revisions,
    whole,
    (revision) => {
      const step = steps.find((s) => s.revision === revision)!;
      return runAlembic(setup, target, [command, `${step.from}:${step.to}`, '--sql']);
    },
    withhold,
  );
}

/** Revisions applied by id (apply-revisions.ts) from `start`: all but the withheld at once, else one at a time. */
export function offlineRevisions(setup: AlembicSetup, target: PostgresTarget, revisions: readonly string[], start: string, withhold: Withheld = []): Promise<OfflineSql> {
  const run = revisions.filter((r) => !withhold.some((w) => w.revision === r));
  return renderOffline(
    'apply',
    revisions,
    () => applyRevisions(setup, target, run, { offline: { start } }),
    (revision) => applyRevisions(setup, target, [revision], { offline: { start } }),
    withhold,
  );
}

/**
 * `whole()` first, where given; when alembic fails on it (a back-fill), each revision by `one()`,
 * naming each that cannot render. A withheld revision is never run, only named.
 */
async function renderOffline(
  label: string,
  revisions: readonly string[],
  whole: (() => Promise<string>) | undefined,
  one: (revision: string) => Promise<string>,
  withhold: Withheld,
): Promise<OfflineSql> {
  const withheld = withhold.filter((w) => revisions.includes(w.revision));
  const note = (w: Withheld[number]) => `-- ${label} ${w.revision}: not run in a dry run, not even offline: it ${w.why}\n`;
  if (whole) {
    try {
      return { sql: withheld.map(note).join('') + (await whole()), cannot: [], withheld };
    } catch (error) {
      // alembic that does not start at all fails every revision alike: that is the error to show.
      if (!(error instanceof AlembicError) || error.kind !== 'failed' || revisions.length <= 1) throw error;
    }
  }
  let sql = '';
  const cannot: Array<{ revision: string; why: string }> = [];
  for (const revision of revisions) {
    const held = withheld.find((w) => w.revision === revision);
    if (held) {
      sql += note(held);
      continue;
    }
    try {
      sql += `-- ${label} ${revision}\n${await one(revision)}`;
    } catch (error) {
      if (!(error instanceof AlembicError) || error.kind !== 'failed') throw error;
      // The cause alembic gave, without "alembic upgrade a:b --sql failed (exit 1) in revision b: ".
      const why = error.message.replace(/^.*? failed \(exit \d+\)(?: in revision \w+)?: /s, '');
      cannot.push({ revision, why });
      sql += `-- ${label} ${revision}: cannot run offline (${why})\n`;
    }
  }
  return { sql, cannot, withheld };
}
