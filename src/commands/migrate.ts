/**
 * migrate: under the migration lock, preflight, the backup bundle, then per hop and step apply
 * and verify. The first failure stops the run; what was done stays done (every apply is
 * idempotent), so a re-run completes it. With dry-run: preflight and what would change.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { join, resolve } from 'node:path';
import { MigrationError, messageOf } from '../core/errors.js';
import type { Plan } from '../hops/plan.js';
import type { StepTiming } from '../core/report/index.js';
import type { Step, StepContext } from '../steps/step.js';
import type { Session } from './session.js';
import { checkPhase } from './check.js';
import { dryRun } from './dry-run.js';
import { changeSteps, lastOccurrences, planRun, stepLabel } from './plan.js';
import { stepFailure } from './step-failure.js';
import { hopFinished, hopStarted, HOP_JOURNAL } from '../stores/journal.js';

export async function migrateCommand(session: Session): Promise<void> {
  const { dryRun: dry } = session.options;
  const plan = await planRun(session, ['postgres', 'etcd', 'redis'], { lockFirst: !dry });
  await checkPhase(session, 'preflight', plan);
  await (dry ? dryRun(session, plan) : migrate(session, plan));
}

async function migrate(session: Session, plan: Plan): Promise<void> {
  const missing = [...new Set(changeSteps(plan).flatMap(({ step }) => (step.apply ? [] : [step.id])))];
  if (missing.length > 0) {
    throw new MigrationError('unsupported', `command "migrate" cannot run this plan yet: step(s) ${missing.join(', ')} have no apply phase in this build`);
  }
  const lock = session.lock!;
  const done: string[] = [];
  const changes = changeSteps(plan).map(stepLabel);
  const progress = (current?: string) => {
    const notDone = changes.filter((s) => !done.includes(s) && s !== current);
    return `done: ${done.join(', ') || 'nothing'}\nnot done: ${notDone.join(', ') || 'nothing'}`;
  };
  const stillHeld = () => lock.ensureHeld().catch((error: unknown) => lockLost(session, error, progress()));
  const began = performance.now();
  const timings: StepTiming[] = (session.report.timings = []);
  const timed = async <T>(body: () => Promise<T>): Promise<[T, number, number]> => {
    const start = performance.now();
    const result = await body();
    return [result, start - began, performance.now() - start];
  };
  try {
    await stillHeld();
    const [, backupStart, backupMs] = await timed(() => session.log.group('Backup', () => writeBackup(session, plan)));
    timings.push({ step: 'backup', startMs: backupStart, applyMs: backupMs, verifyMs: 0 });
    const journal = hopJournal(session);
    for (const hop of plan.hops) {
      await session.log.group(`Migrate ${hop.label}`, async () => {
        await journal.started(hop.label, hop.to.version);
        for (const step of hop.steps.filter((s) => s.kind === 'change')) {
          await stillHeld();
          const ctx = session.stepContext(hop);
          const record = (phase: 'apply' | 'verify', findings: Awaited<ReturnType<Session['safely']>>) => {
            for (const f of findings) session.record({ phase, hop: hop.label, step: step.id, status: f.status, detail: f.detail }, f);
          };
          const [applied, startMs, applyMs] = await timed(() => session.safely(step, async () => [await step.apply!(ctx)]));
          record('apply', applied);
          const [verified, , verifyMs] = await timed(async () =>
            applied.some((f) => f.status === 'failed') ? [] : session.safely(step, () => (step.verify ? step.verify(ctx) : Promise.resolve([]))),
          );
          record('verify', verified);
          timings.push({ hop: hop.label, step: step.id, startMs, applyMs, verifyMs });
          const label = stepLabel({ hop, step });
          const failure = [...applied, ...verified].find((f) => f.status === 'failed');
          if (failure) {
            // Inside an alembic revision: which one, the cause and the rows, and whether preflight checks it.
            const taken = failure.revisionFailure && session.redacted(stepFailure(session.report, hop.label, step.id, failure.revisionFailure));
            if (taken) session.report.failure = taken;
            const where = `${progress(label)}\n${taken?.remedy ?? 'Fix the cause and run migrate again: finished steps are recognised and skipped.'}`;
            throw new MigrationError('checks-failed', `${label} failed: ${failure.detail}\n${where}`, `${label} failed (reported above)\n${where}`);
          }
          done.push(label);
        }
        await journal.finished(hop.label);
      });
    }
  } finally {
    await lock.release();
  }
}

/**
 * The hop journal a later run plans from (stores/journal.ts). It guides planning only: a journal
 * that cannot be written is a warning, and a later run without from-version plans the hop again.
 */
function hopJournal(session: Session): { started(hop: string, target: string): Promise<void>; finished(hop: string): Promise<void> } {
  let failed = false;
  const safely = async (write: () => Promise<void>) => {
    if (failed) return;
    await write().catch((error: unknown) => {
      failed = true;
      session.log.warning(`the hop journal ${HOP_JOURNAL} could not be written (${messageOf(error)}); a later run without from-version may plan finished hops again`);
    });
  };
  const pg = session.deployment.postgres;
  return { started: (hop, target) => safely(() => hopStarted(pg, hop, target)), finished: (hop) => safely(() => hopFinished(pg, hop)) };
}

/** Ends the run when the lock is gone: another run may already be migrating. */
async function lockLost(session: Session, error: unknown, progress: string): Promise<never> {
  if (!(error instanceof MigrationError)) throw error;
  const down = await session.deployment.unreachable(['postgres']);
  throw new MigrationError(down.length > 0 ? 'unreachable' : error.code, `${down.length > 0 ? `${down.join('; ')}; ` : ''}${error.message}\n${progress}`);
}

/**
 * Everything the steps may lose, saved before the first change, and only when some step has a
 * change to make: a run that changes nothing writes nothing. Named in the report.
 */
async function writeBackup(session: Session, plan: Plan): Promise<void> {
  const first = await firstPendingStep(session, plan);
  if (!first) {
    session.record({ phase: 'apply', step: 'backup', status: 'ok', detail: 'every step is already done: nothing to back up, no backup bundle written' });
    return;
  }
  const dir = resolve(session.options.backupDir, `backup-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const saved: string[] = [];
  for (const { hop, step } of lastOccurrences(plan)) {
    const item = step.backup ? await step.backup(session.stepContext(hop)) : undefined;
    // Steps that edit the same file (manager.toml) back it up once.
    if (!item || saved.includes(item.name)) continue;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, item.name), item.content, { mode: 0o600 });
    saved.push(item.name);
  }
  if (saved.length > 0) {
    session.report.backup = dir;
    session.record({ phase: 'apply', step: 'backup', status: 'ok', detail: `backup bundle ${dir}: ${saved.join(', ')} (first change: ${first})` });
  }
  // What a change drops for good is also kept in the database itself: a bundle may be pruned.
  for (const { hop, step } of lastOccurrences(plan)) {
    const kept = step.carryForward
      ? await step.carryForward(session.stepContext(hop)).catch((error: unknown) => {
          throw new MigrationError(
            'checks-failed',
            `${step.title}: the values it drops could not be kept in PostgreSQL (${messageOf(error)}); nothing has been changed yet${saved.length > 0 ? ` (the backup bundle ${dir} was written)` : ''}`,
          );
        })
      : undefined;
    if (kept) session.record({ phase: 'apply', step: 'backup', status: kept.status, detail: kept.detail });
  }
}

/** "hop step" of the first change step whose apply has something to do; undefined when none has. */
async function firstPendingStep(session: Session, plan: Plan): Promise<string | undefined> {
  for (const entry of changeSteps(plan)) {
    if (await hasWork(entry.step, session.stepContext(entry.hop))) return stepLabel(entry);
  }
  return undefined;
}

/** A step's own answer, else whether its verify still fails; a step that cannot tell is taken to have work. */
async function hasWork(step: Step, ctx: StepContext): Promise<boolean> {
  try {
    if (step.pending) return await step.pending(ctx);
    if (step.verify) return (await step.verify(ctx)).some((f) => f.status === 'failed');
    return true;
  } catch {
    return true;
  }
}
