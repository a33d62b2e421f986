/**
 * `alembic upgrade head` for the hop's target release. Verify reads alembic_version and the
 * schema facts the hop is known for (reference §2.3).
 */
import { columnExists, readRevisions, tableExists } from '../stores/schema.js';
import { reaches } from '../releases/releases.js';
import { resolve } from 'node:path';
import { ALEMBIC_APPLICATION_NAME, AlembicError, runAlembic } from '../manager/alembic.js';
import { MigrationError } from '../core/errors.js';
import { sleep } from '../core/time.js';
import { changed, failed, ok, skipped, type Finding, type Step, type StepContext } from './step.js';

/** Schema facts that hold from a revision on: [revision, description, check]. */
const FACTS: ReadonlyArray<{ since: string; describe: string; holds: (ctx: StepContext) => Promise<boolean> }> = [
  { since: '60a1effa77d2', describe: 'scaling_groups.wsproxy_addr exists', holds: (c) => columnExists(c.deployment.postgres, 'scaling_groups', 'wsproxy_addr') },
  {
    since: '015d84d5a5ef',
    describe: 'tables images and image_aliases exist',
    holds: async (c) => (await tableExists(c.deployment.postgres, 'images')) && (await tableExists(c.deployment.postgres, 'image_aliases')),
  },
  { since: 'd59ff89e7514', describe: 'keypairs.concurrency_used is dropped', holds: async (c) => !(await columnExists(c.deployment.postgres, 'keypairs', 'concurrency_used')) },
];

export const schema: Step = {
  id: 'schema',
  title: 'Database schema (alembic upgrade)',
  kind: 'change',
  action: "Runs alembic upgrade to the target release's head revision under a PostgreSQL session advisory lock.",
  servers: ['postgres'],
  tables: ['alembic_version'],

  async preflight(ctx) {
    const revisions = await readRevisions(ctx.deployment.postgres);
    const target = ctx.hop.to.head;
    if (revisions.length === 1 && revisions[0] === target) return [ok(`already at ${target}, the head of ${ctx.hop.to.version}; alembic is not run`)];
    return [ok(`at ${revisions.join(', ')}; alembic upgrade will take it to ${target} (${ctx.hop.to.version})`), await alembicWorks(ctx, target)];
  },

  async dryRun(ctx) {
    const revisions = await readRevisions(ctx.deployment.postgres);
    const target = ctx.hop.to.head;
    if (revisions.length === 1 && revisions[0] === target) return [ok(`already at ${target}: nothing to run`)];
    if (ctx.options.managerVenv)
      return [
        skipped(`would run alembic upgrade ${revisions.join(', ')} → ${target} from the manager venv migrate makes in ${ctx.options.managerVenv.dir} (a dry run makes none, so no SQL is shown)`),
      ];
    // Offline mode takes a single start revision; after an interrupted upgrade there may be two.
    const range = revisions.length === 1 ? `${revisions[0]}:${target}` : target;
    const sql = await runAlembic(ctx.alembic, ctx.deployment.targets.postgres!, ['upgrade', range, '--sql']);
    const statements = sql.split('\n').filter((line) => /;\s*$/.test(line) && !/^(BEGIN|COMMIT);/.test(line)).length;
    return [
      {
        status: 'ok',
        detail: `would run alembic upgrade ${revisions.join(', ')} → ${target}: ${statements} SQL statement(s), shown in the report`,
        attachment: { name: `alembic upgrade ${range} --sql`, content: sql },
      },
    ];
  },

  async apply(ctx) {
    await waitForOrphanedAlembic(ctx);
    const before = await readRevisions(ctx.deployment.postgres);
    const target = ctx.hop.to.head;
    if (before.length === 1 && before[0] === target) return ok(`already at ${target} (${ctx.hop.to.version})`);
    await runAlembic(ctx.alembic, ctx.deployment.targets.postgres!, ['upgrade', target]);
    return changed(`alembic upgrade ${before.join(', ')} → ${target} (${ctx.hop.to.version})`);
  },

  async verify(ctx) {
    const revisions = await readRevisions(ctx.deployment.postgres);
    const target = ctx.hop.to.head;
    const findings: Finding[] = [];
    findings.push(
      revisions.length === 1 && revisions[0] === target
        ? ok(`alembic_version is ${target}, the head of ${ctx.hop.to.version}`)
        : failed(`alembic_version is ${revisions.join(', ') || 'empty'}; expected ${target}, the head of ${ctx.hop.to.version}`),
    );
    for (const fact of FACTS.filter((f) => reaches(ctx.hop.to.series, target, f.since))) {
      findings.push((await fact.holds(ctx)) ? ok(fact.describe) : failed(`expected: ${fact.describe}`));
    }
    return findings;
  },
};

/**
 * Before the lock and the backup: alembic starts, reads its config and knows the target revision
 * (`alembic show` reads the scripts only, it does not connect). A wrong alembic-command or a
 * missing alembic.ini would otherwise be found in the apply phase.
 */
async function alembicWorks(ctx: StepContext, target: string): Promise<Finding> {
  if (ctx.options.managerVenv) return skipped(`alembic will run from the manager venv migrate makes in ${ctx.options.managerVenv.dir}: not checked here`);
  const command = ctx.alembic.command.join(' ');
  const config = resolve(ctx.alembic.config);
  try {
    await runAlembic(ctx.alembic, ctx.deployment.targets.postgres!, ['show', target]);
    return ok(`alembic runs: "${command}" with ${config} knows revision ${target}`);
  } catch (error) {
    if (!(error instanceof AlembicError)) throw error;
    const what =
      error.kind === 'cannot-run'
        ? `"${command}" cannot be run (${error.output})`
        : error.kind === 'no-config'
          ? `its config ${config} cannot be read (${error.output})`
          : `"${command} -c <private copy of ${config}> show ${target}" failed (${error.output})`;
    return failed(
      `alembic does not work as configured: ${what}; command: ${command}, config: ${config}. Set alembic-command (the manager venv's alembic, e.g. /opt/backend.ai/bin/alembic), alembic-config (the manager's alembic.ini, by default the one beside manager.toml) or manager-venv (bai-migrate makes the venv)`,
    );
  }
}

/**
 * alembic's watchdog stops it soon after a killed runner, but its connection may still be closing
 * (or an alembic was started by hand). The migration lock died with the runner, so wait here
 * until no alembic of an earlier run is connected, instead of racing it.
 */
async function waitForOrphanedAlembic(ctx: StepContext): Promise<void> {
  const deadline = Date.now() + ctx.options.lockTimeoutSeconds * 1000;
  for (;;) {
    const { rows } = await ctx.deployment.postgres.query<{ pid: number; seconds: number }>(
      `SELECT pid, round(extract(epoch FROM now() - backend_start))::int AS seconds
         FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`,
      [ALEMBIC_APPLICATION_NAME],
    );
    if (rows.length === 0) return;
    if (Date.now() > deadline) {
      const { pid, seconds } = rows[0]!;
      throw new MigrationError(
        'inconsistent-state',
        `an alembic started by an earlier bai-migrate run is still connected (backend pid ${pid}, for ${seconds} s); let it finish, or stop it with SELECT pg_terminate_backend(${pid}), then run again`,
      );
    }
    ctx.log.info(`waiting for an alembic started by an earlier run (backend pid ${rows[0]!.pid}) to finish`);
    await sleep(500);
  }
}
