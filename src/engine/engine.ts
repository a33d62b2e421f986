/**
 * The engine: validated options in, a report out. It knows nothing of GitHub; the Action and the
 * CLI are thin adapters around `runCommand`.
 */
import { writeFile } from 'node:fs/promises';
import { MigrationError, messageOf } from './errors.js';
import { redactingLogger, type Logger } from './logger.js';
import type { Options } from './options.js';
import { resolveTargets, type Targets } from './connections.js';
import { Deployment, SERVER_NAMES, type Server } from './deployment.js';
import { detectPosition } from './schema.js';
import { makePlan, type Plan } from './plan.js';
import { newReport, redact, type Phase, type Report, type ReportEntry } from './report.js';
import type { SchemaPosition } from './catalogue.js';
import type { Finding, Hop, Step, StepContext } from '../steps/step.js';

export interface RunHooks {
  readonly log: Logger;
  /** Called for every secret as soon as it is known, before anything can print it. */
  readonly onSecret: (secret: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

export async function runCommand(options: Options, hooks: RunHooks): Promise<Report> {
  const report = newReport(options.command, options.dryRun);
  const secrets = new Set<string>();
  const addSecret = (secret: string) => {
    if (secret && !secrets.has(secret)) {
      secrets.add(secret);
      hooks.onSecret(secret);
    }
  };
  const record = (entry: ReportEntry) => {
    report.entries.push({ ...entry, detail: redact(entry.detail, secrets) });
  };
  let deployment: Deployment | undefined;
  try {
    const targets = resolveTargets(options, hooks.env);
    targets.secrets.forEach(addSecret);
    deployment = new Deployment(targets, options.connectTimeoutSeconds * 1000, addSecret);
    await execute(options, deployment, report, record, redactingLogger(hooks.log, secrets));
  } catch (error) {
    report.outcome = 'failure';
    report.error = redact(error instanceof MigrationError ? error.message : `unexpected error: ${messageOf(error)}`, secrets);
    if (error instanceof MigrationError) report.errorCode = error.code;
  } finally {
    await deployment?.close();
    report.finishedAt = new Date().toISOString();
  }
  await writeFile(options.reportFile, `${redact(JSON.stringify(report, null, 2), secrets)}\n`);
  return report;
}

async function execute(
  options: Options,
  deployment: Deployment,
  report: Report,
  record: (entry: ReportEntry) => void,
  log: Logger,
): Promise<void> {
  if (options.command === 'clear-history') {
    throw new MigrationError('unsupported', 'command "clear-history" is not available in this build yet; accepted now: plan, preflight, verify');
  }
  const toVersion = options.toVersion!;

    const servers = serversFor(options, deployment.targets);
  if (servers.length > 0) {
    const results = await log.group('Connect', async () => {
      const outcome = await deployment.connect(servers);
      for (const r of outcome) {
        record({ phase: 'connect', step: SERVER_NAMES[r.server], status: r.ok ? 'ok' : 'failed', detail: r.detail });
        log.info(`${r.ok ? 'ok' : 'FAILED'}: ${r.detail}`);
      }
      return outcome;
    });
    const down = results.filter((r) => !r.ok);
    if (down.length > 0) {
      throw new MigrationError('unreachable', down.map((r) => `${SERVER_NAMES[r.server]}: ${r.detail}`).join('\n'));
    }
  }

  let position: SchemaPosition | undefined;
  if (servers.includes('postgres')) {
    position = await detectPosition(deployment.postgres);
    report.currentRevision = position.revision;
  }
  const plan = makePlan(options.fromVersion, toVersion, position);
  describePlan(plan, report, record, log);

  if (options.command === 'plan') return;
  if (options.command === 'migrate') {
    const missing = plan.hops.flatMap((hop) => hop.steps.filter((s) => s.kind === 'change' && !s.apply).map((s) => s.id));
    if (missing.length > 0) {
      throw new MigrationError(
        'unsupported',
        `command "migrate" cannot run this plan yet: step(s) ${[...new Set(missing)].join(', ')} have no apply phase in this build; run preflight and verify, or plan`,
      );
    }
  }

  if (options.command === 'preflight' || options.command === 'migrate') {
    await runPhase('preflight', plan, deployment, options, record, log);
    const failures = report.entries.filter((e) => e.phase === 'preflight' && e.status === 'failed');
    if (failures.length > 0) {
      throw new MigrationError(
        'checks-failed',
        `preflight found ${failures.length} problem(s):\n${failures.map((f) => `- ${f.hop ? `${f.hop} ` : ''}${f.step}: ${f.detail}`).join('\n')}`,
      );
    }
  }
  if (options.command === 'verify') {
    await runPhase('verify', plan, deployment, options, record, log);
    const failures = report.entries.filter((e) => e.phase === 'verify' && e.status === 'failed');
    if (failures.length > 0) {
      throw new MigrationError('checks-failed', `verify found ${failures.length} problem(s):\n${failures.map((f) => `- ${f.step}: ${f.detail}`).join('\n')}`);
    }
  }
}

/** plan reads only the schema revision, and works offline when from-version is given and no database is configured. */
function serversFor(options: Options, targets: Targets): Server[] {
  if (options.command === 'plan') return options.fromVersion && !targets.postgres ? [] : ['postgres'];
  return ['postgres', 'etcd', 'redis'];
}

function describePlan(plan: Plan, report: Report, record: (entry: ReportEntry) => void, log: Logger): void {
  report.fromVersion = plan.from;
  report.toVersion = plan.to.version;
  report.targetRevision = plan.to.head;
  report.plan = plan.hops.map((hop) => ({
    hop: hop.label,
    targetRevision: hop.to.head,
    steps: hop.steps.map((s) => ({ id: s.id, title: s.title, action: s.action })),
  }));
  if (plan.note) record({ phase: 'plan', step: 'from-version', status: 'ok', detail: plan.note });
  if (plan.hops.length === 0) {
    record({ phase: 'plan', step: 'hops', status: 'ok', detail: `already at ${plan.to.version}: nothing to migrate` });
  }
  for (const hop of plan.hops) {
    for (const step of hop.steps) record({ phase: 'plan', hop: hop.label, step: step.id, status: 'ok', detail: step.action });
  }
  log.info(`Plan: ${plan.from} → ${plan.to.version} (${plan.hops.map((h) => h.label).join(', ') || 'nothing to do'})`);
}

/**
 * Runs one phase of every step of the plan. A step that appears in several hops runs once, in its
 * last hop, because preflight and verify judge the deployment as it stands and as it must end.
 * Every step runs even when an earlier one fails, so that all findings are reported at once.
 */
async function runPhase(
  phase: Extract<Phase, 'preflight' | 'verify'>,
  plan: Plan,
  deployment: Deployment,
  options: Options,
  record: (entry: ReportEntry) => void,
  log: Logger,
): Promise<void> {
  const lastHopOf = new Map<string, Hop>();
  for (const hop of plan.hops) for (const step of hop.steps) lastHopOf.set(step.id, hop);
  await log.group(phase === 'preflight' ? 'Preflight' : 'Verify', async () => {
    for (const hop of plan.hops) {
      for (const step of hop.steps) {
        if (lastHopOf.get(step.id) !== hop) continue;
        const run: ((ctx: StepContext) => Promise<Finding[]>) | undefined = step[phase]?.bind(step);
        const findings = run ? await safely(step, () => run({ deployment, options, hop, log })) : [{ status: 'skipped' as const, detail: `${step.title} has no ${phase} phase` }];
        for (const f of findings) {
          record({ phase, hop: hop.label, step: step.id, status: f.status, detail: f.detail });
          const line = `${step.id}: ${f.detail}`;
          if (f.status === 'failed') log.error(line);
          else if (f.status === 'warning') log.warning(line);
          else log.info(`${f.status}: ${line}`);
        }
      }
    }
  });
}

/** A check that throws is a failed finding that names the step, not the end of the run. */
async function safely(step: Step, body: () => Promise<Finding[]>): Promise<Finding[]> {
  try {
    return await body();
  } catch (error) {
    return [{ status: 'failed', detail: `${step.title}: ${messageOf(error)}` }];
  }
}
