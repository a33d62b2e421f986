/** migrate with dry-run: preflight, then what each change step would do. Reads only. */
import type { Plan } from '../hops/plan.js';
import type { Session } from './session.js';
import { changeSteps } from './plan.js';
import type { Hop } from '../steps/step.js';
import { readRevisions } from '../stores/schema.js';
import { pastIn } from '../releases/releases.js';

/** Where the schema will stand when `hop` starts: the previous hop's head, unless the database is already there or past it. */
function startOf(plan: Plan, hop: Hop, current: readonly string[]): readonly string[] | undefined {
  const previous = plan.hops[plan.hops.indexOf(hop) - 1];
  if (!previous) return undefined;
  const there = (current.length === 1 && current[0] === previous.to.head) || pastIn(previous.fromSeries, previous.to.series, current, previous.to.head);
  return there ? undefined : [previous.to.head];
}

export async function dryRun(session: Session, plan: Plan): Promise<void> {
  const current = await readRevisions(session.deployment.postgres);
  await session.log.group('Dry run', async () => {
    for (const { hop, step } of changeSteps(plan)) {
      const ctx = { ...session.stepContext(hop), assumedRevisions: startOf(plan, hop, current) };
      const findings = step.dryRun ? await session.safely(step, () => step.dryRun!(ctx)) : [{ status: 'skipped' as const, detail: 'nothing to show without applying' }];
      // A dry run changed nothing: what would change is reported as skipped.
      for (const f of findings) session.record({ phase: 'apply', hop: hop.label, step: step.id, status: f.status === 'ok' ? 'skipped' : f.status, detail: `dry run: ${f.detail}` }, f);
    }
  });
  session.failIfAny('apply', 'the dry run');
}
