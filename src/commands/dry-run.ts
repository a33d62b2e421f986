/** migrate with dry-run: preflight, then what each change step would do. Reads only. */
import type { Plan } from '../hops/plan.js';
import type { Session } from './session.js';
import { changeSteps, startOf } from './plan.js';
import { readRevisions } from '../stores/schema.js';

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
