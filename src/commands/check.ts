/**
 * preflight and verify: every step's check of the deployment as it stands (preflight) or as it
 * must end (verify). Both read only.
 */
import { performance } from 'node:perf_hooks';
import type { Plan } from '../hops/plan.js';
import { formatDuration, type Phase } from '../core/report/index.js';
import type { Session } from './session.js';
import { lastOccurrences, planRun, startOf } from './plan.js';
import { readRevisions } from '../stores/schema.js';
import { messageOf } from '../core/errors.js';
import { schemaDrift } from './schema-drift.js';

export type CheckPhase = Extract<Phase, 'preflight' | 'verify'>;

/**
 * Runs preflight or verify of every step, each once, in its last hop. Every step runs even when an
 * earlier one fails, so that all findings are reported; then the phase fails once.
 */
export async function checkPhase(session: Session, phase: CheckPhase, plan: Plan): Promise<void> {
  // Preflight judges a step in its last hop, which starts where the hops before it leave the schema.
  const live = phase === 'preflight' ? await readRevisions(session.deployment.postgres) : undefined;
  const current = plan.hops.length > 1 ? live : undefined;
  await session.log.group(phase === 'preflight' ? 'Preflight' : 'Verify', async () => {
    // The checks only read, and most of their time is waiting (alembic starting, etcd, Redis): they
    // run side by side, and their findings are recorded in plan order. Preflight is downtime too.
    const drift = live
      ? schemaDrift(session, plan, live).catch((error: unknown) => [{ hop: plan.hops[0]?.label, status: 'warning' as const, detail: `schema drift not checked: ${messageOf(error)}` }])
      : Promise.resolve([]);
    const checked = await Promise.all(
      lastOccurrences(plan).map(async ({ hop, step }) => {
        const check = step[phase];
        const started = performance.now();
        const ctx = current ? { ...session.stepContext(hop), assumedRevisions: startOf(plan, hop, current) } : session.stepContext(hop);
        const findings = check ? await session.safely(step, () => check.call(step, ctx)) : [{ status: 'skipped' as const, detail: `${step.title} has no ${phase} phase` }];
        session.log.debug(`${hop.label} ${step.id}: ${phase} took ${formatDuration(performance.now() - started)}`);
        return { hop, step, findings };
      }),
    );
    for (const { hop, step, findings } of checked) {
      for (const f of findings) session.record({ phase, hop: hop.label, step: step.id, status: f.status, detail: f.detail }, f);
    }
    for (const f of await drift) session.record({ phase, hop: f.hop, step: 'schema', status: f.status, detail: f.detail }, f);
  });
  session.failIfAny(phase, phase);
}

/** The command preflight or verify: plan against all three servers, then the one phase. */
export function checkCommand(phase: CheckPhase) {
  return async (session: Session): Promise<void> => {
    const plan = await planRun(session, ['postgres', 'etcd', 'redis']);
    await checkPhase(session, phase, plan);
  };
}
