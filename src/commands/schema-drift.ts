/**
 * Schema drift, found in preflight: a constraint, index, column, table or enum type a revision on
 * the path drops, alters or renames that the database does not have (a hand-made change, a restore
 * that lost it), or one a revision creates that the database already has. PostgreSQL stops such a
 * revision and the hop rolls back, after the hops before it committed; Atlas checks drift before it
 * migrates for the same reason.
 *
 * How: every revision the run's schema steps would take, in order, is rendered offline on its own
 * by the alembic that will run it (the source release's for a downgrade), and its DDL is played over
 * a model of the live schema (stores/schema-model.ts). Nothing connects but the read of the
 * catalogue; offline mode does not touch the database.
 *
 * The other differences from what the source release describes, which no revision on the path
 * stops on, are warnings: the live schema is compared with that release's own models in its venv
 * (manager/model-diff.ts), where the database is at its head.
 */
import { access } from 'node:fs/promises';
import type { Plan } from '../hops/plan.js';
import { REHEARSAL_FINDS_IT, type Finding, type Hop } from '../steps/step.js';
import { schemaRevisionRuns, schemaStepOf } from '../steps/schema/index.js';
import { renderEachRevision, type RenderedRevision, type RevisionRun } from '../manager/revision-sql.js';
import { outsideDatabase } from '../releases/outside-database.js';
import { findRelease, latestRelease } from '../releases/releases.js';
import { publishedRelease } from '../releases/manager-python.js';
import { compareWithModels, describeDifference, type ModelDifference } from '../manager/model-diff.js';
import { readSchemaObjects, SchemaModel } from '../stores/schema-model.js';
import { messageOf } from '../core/errors.js';
import type { Session } from './session.js';
import { startOf } from './plan.js';

export interface DriftFinding extends Finding {
  readonly hop: string;
}

/** The findings of the drift check for `plan`, starting from the live database at `current`. */
export async function schemaDrift(session: Session, plan: Plan, current: readonly string[]): Promise<DriftFinding[]> {
  const hops = plan.hops.filter((hop) => schemaStepOf(hop));
  if (hops.length === 0) return [];
  const model = new SchemaModel(await readSchemaObjects(session.deployment.postgres));
  const findings: DriftFinding[] = [];
  /**
   * Revisions whose DDL the model could not follow, with their script's text: a later stop is
   * theirs to explain only where the script names the table or the object it stops on.
   */
  const unfollowed: Array<{ readonly what: string; readonly source: string }> = [];
  /** Stops the check cannot judge, said in its summary instead of as findings. */
  const unjudged: string[] = [];
  let played = 0;
  for (const hop of plan.hops) {
    const schemaStep = schemaStepOf(hop);
    if (!schemaStep) continue;
    // bai-migrate's own steps before the schema step (a type renamed to the name the scripts use).
    for (const step of hop.steps.slice(0, hop.steps.indexOf(schemaStep))) {
      for (const rename of step.renamesTypes ?? []) if (model.hasType(rename.from) && !model.hasType(rename.to)) model.renameType(rename.from, rename.to);
    }
    const runs = schemaRevisionRuns(hop, startOf(plan, hop, current) ?? current);
    if (runs.length === 0) continue;
    const rendered = await renderHop(session, hop, runs);
    if ('notChecked' in rendered) {
      findings.push({ hop: hop.label, status: 'skipped', detail: `schema drift of ${hop.label}${hop === hops[0] ? '' : ' and the hops after it'} not checked: ${rendered.notChecked}` });
      return findings;
    }
    for (const [i, run] of runs.entries()) {
      const release = run.by === 'source' ? latestRelease(hop.fromLine).version : hop.to.version;
      const name = `${release}'s ${run.revision}${run.direction === 'down' ? ' (downgrade)' : ''}`;
      const result = rendered.revisions[i]!;
      if (!('sql' in result)) {
        const why = rendered.withheld.get(run.revision);
        unfollowed.push({ what: `${name} (${why ? `it ${why}, so it is not run, not even offline` : `cannot render offline: ${result.error}`})`, source: result.source });
        continue;
      }
      played++;
      for (const stop of model.play(result.sql)) {
        const explained = unfollowed.some((u) => stop.names.length > 0 && stop.names.every((n) => mentions(u.source, n)));
        if (!stop.certain || explained) {
          // Not judged: a revision the check could not follow may make it, or PostgreSQL names it (a table the path creates).
          if (explained && stop.missingTable) model.assumeTable(stop.missingTable);
          unjudged.push(`${name}: ${stop.problem}${explained ? ` (a revision before it that could not be followed names ${stop.names.join(' and ')})` : ' (a name PostgreSQL gives)'}`);
          continue;
        }
        findings.push({
          hop: hop.label,
          status: 'failed',
          detail:
            `schema drift: ${name} would stop: it ${stop.problem} (${clip(stop.statement)}). ` +
            `PostgreSQL would roll ${hop.label} back there. The database differs from what its release made (a hand-made change, or a restore that lost it): make it match what the revision expects, then run again; nothing was written. ${REHEARSAL_FINDS_IT}`,
        });
      }
    }
  }
  const models = await modelDifferences(session, hops[0]!, current);
  if ('differences' in models) {
    // A difference a stop above already names is said there.
    const stopped = findings.filter((f) => f.status === 'failed').map((f) => f.detail);
    const drifted = models.differences.filter((d) => !d.madeBy && !stopped.some((detail) => mentions(detail, d.name.split('.').pop()!)));
    if (drifted.length > 0)
      findings.push({
        hop: hops[0]!.label,
        status: 'warning',
        detail:
          `differences from ${models.release}'s models that no revision on the path stops on (${drifted.length}): ` +
          `${drifted.slice(0, MAX_LISTED).map(describeDifference).join('; ')}${drifted.length > MAX_LISTED ? `; and ${drifted.length - MAX_LISTED} more` : ''}. ` +
          `The migration does not depend on them; a hand-made change, a restore, or an install by an older release (whose models declared more) leaves such differences: make them match if they were not meant`,
      });
  }
  if (!findings.some((f) => f.status === 'failed')) {
    const notJudged =
      unjudged.length > 0
        ? `; ${unjudged.length} statement(s) not judged, on what revisions the check could not follow may make: ${unjudged.slice(0, 3).join('; ')}${unjudged.length > 3 ? '; …' : ''}`
        : '';
    const notFollowed = unfollowed.length > 0 ? `; not followed: ${unfollowed.map((u) => u.what).join('; ')}` : '';
    findings.push({
      hop: plan.hops[0]!.label,
      status: 'ok',
      detail: `schema drift: none; ${played} revision(s) on the path played over the live schema: everything they drop, alter or rename is there, nothing they create is${notJudged}${notFollowed}; ${modelsSaid(models)}`,
    });
  }
  return findings;
}

/** How many differences from the models one warning lists. */
const MAX_LISTED = 12;

type ModelComparison = { readonly release: string; readonly differences: readonly ModelDifference[] } | { readonly notCompared: string };

/**
 * The live schema against the models of the release the database is at: the first schema hop's
 * source line's final release, from its own venv. Only where the database is at that release's head:
 * the models describe the head.
 */
async function modelDifferences(session: Session, hop: Hop, current: readonly string[]): Promise<ModelComparison> {
  const release = publishedRelease(latestRelease(hop.fromLine).version);
  const head = findRelease(release)?.head;
  if (current.length !== 1 || current[0] !== head) return { notCompared: `the database is at ${current.join(', ') || 'no revision'}, not at ${release}'s head ${head}` };
  const ctx = session.stepContext(hop);
  if (!ctx.sourceAlembic) return { notCompared: `needs ${release}'s own package (set manager-venv)` };
  try {
    const alembic = await ctx.sourceAlembic('models');
    if (!alembic || !(await exists(alembic.command[0]!))) return { notCompared: `${release}'s manager venv is not made yet (preflight or migrate makes it)` };
    return { release, differences: await compareWithModels(alembic, ctx.deployment.targets.postgres!) };
  } catch (error) {
    return { notCompared: `${release}'s models could not be compared: ${messageOf(error)}` };
  }
}

function modelsSaid(models: ModelComparison): string {
  if ('notCompared' in models) return `not compared with the source release's models: ${models.notCompared}`;
  const upstream = models.differences.filter((d) => d.madeBy);
  const own = upstream.length > 0 ? `; ${upstream.length} difference(s) upstream's own revisions make: ${upstream.map((d) => `${describeDifference(d)} (${d.madeBy})`).join('; ')}` : '';
  const others = models.differences.length - upstream.length;
  return `compared with ${models.release}'s models: ${others === 0 ? 'no other difference' : `${others} other difference(s), warned about`}${own}`;
}

/** The hop's revisions rendered, in the order of `runs`, or why they cannot be. */
async function renderHop(
  session: Session,
  hop: Hop,
  runs: ReadonlyArray<RevisionRun & { by: 'source' | 'target' }>,
): Promise<{ revisions: RenderedRevision[]; withheld: Map<string, string> } | { notChecked: string }> {
  const ctx = session.stepContext(hop);
  const target = ctx.deployment.targets.postgres!;
  // What a revision does outside PostgreSQL it would do offline too: never run here.
  const withheld = new Map(outsideDatabase(runs.map((r) => r.revision)).map((w) => [w.revision, w.why]));
  const render = async (by: 'source' | 'target') => {
    // A withheld revision's script is only read, never run.
    const mine = runs.filter((r) => r.by === by).map((r) => (withheld.has(r.revision) ? { ...r, direction: 'source' as const } : r));
    if (mine.length === 0) return [];
    const alembic = by === 'target' ? ctx.alembic : await ctx.sourceAlembic?.();
    if (!alembic) throw new NotReady(`${hop.fromLine}'s alembic, which ${hop.label} downgrades with, is not in this run (set manager-venv)`);
    // A dry run makes no venv: the check runs once preflight or an earlier run made it.
    if (session.tools.venvToMake && !(await exists(alembic.command[0]!)))
      throw new NotReady(`${by === 'target' ? hop.to.version : hop.fromLine}'s manager venv is not made yet (preflight or migrate makes it)`);
    return renderEachRevision(alembic, target, mine);
  };
  try {
    const [source, targets] = [await render('source'), await render('target')];
    const byRun = new Map([...source, ...targets].map((r, i) => [`${i < source.length ? 'source' : 'target'}:${r.revision}`, r]));
    return { revisions: runs.map((r) => byRun.get(`${r.by}:${r.revision}`) ?? { revision: r.revision, sql: '' }), withheld };
  } catch (error) {
    return { notChecked: error instanceof NotReady ? error.message : `alembic could not render the revisions offline: ${messageOf(error)}` };
  }
}

class NotReady extends Error {}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Whether a revision's script names `name` as a word (a table, a constraint, an index). */
const mentions = (source: string, name: string) => new RegExp(`(^|[^\\w])${name.replace(/[$]/g, '\\$&')}($|[^\\w])`).test(source);

const clip = (statement: string) => (statement.length > 160 ? `${statement.slice(0, 157)}…` : statement);
