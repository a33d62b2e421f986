/**
 * plan: where the database is, where it is going, and the hops and steps between. Every command
 * that changes or checks the schema plans first (migrate, preflight, verify, the dry run).
 */
import type { Server } from '../stores/deployment.js';
import { detectPosition } from '../stores/schema.js';
import { unfinishedHops } from '../stores/journal.js';
import { decideDetour, detoursOn, hopInto, makePlan, requireSupported, type Plan, type PlanAgain } from '../hops/plan.js';
import type { SchemaPosition } from '../releases/catalogue.js';
import { findRelease, pastIn, releasesOf, sameLine } from '../releases/releases.js';
import type { Hop, Step } from '../steps/step.js';
import { describeSchemaPlan } from '../steps/schema/index.js';
import type { Session } from './session.js';
import { forecastPlan } from './forecast.js';

/** plan reads only the schema revision, and works offline when from-version is given and no database is configured. */
export function planServers(session: Session): Server[] {
  const { options, deployment } = session;
  return options.fromVersion && !deployment.targets.postgres ? [] : ['postgres'];
}

/** Connects to `servers` (then takes the migration lock with `lockFirst`), reads the schema's position when PostgreSQL is among them, and records the plan. */
export async function planRun(session: Session, servers: readonly Server[], { allowUnsupported = false, lockFirst = false } = {}): Promise<Plan> {
  const { options, report } = session;
  await session.connect(servers);
  // Before plan and preflight: a run that waited for another must judge what that one left.
  if (lockFirst) session.lock = await session.waitForLock();
  let position: SchemaPosition | undefined;
  let again: PlanAgain | undefined;
  if (servers.includes('postgres')) {
    position = await detectPosition(session.deployment.postgres);
    report.currentRevision = position.revision;
    // verify checks the end state the hop into the database's line made; the others plan from
    // where the database is, and again only a hop a killed run left unfinished.
    const into = hopInto(position);
    again =
      options.command === 'verify' && into
        ? { hops: [into.label], because: 'verify checks the end state of the hop {hop}' }
        : { hops: await unfinishedHops(session.deployment.postgres), because: "bai-migrate's journal has the hop {hop} as started and not finished" };
  }
  const usual = makePlan(options.fromVersion, options.toVersion!, position, again);
  // A route over several lines the usual hops' first cannot take on this data (hops/plan.ts, decideDetour).
  const blockers = async (hop: Hop, step: Step) =>
    servers.includes('postgres') && step.preflight ? (await step.preflight(session.stepContext(hop))).filter((f) => f.status === 'failed').map((f) => f.detail) : undefined;
  const routes = await Promise.all(detoursOn(usual).map((detour) => decideDetour(detour, options.unknownHeadRoute, usual, position, blockers)));
  const plan = routes.length > 0 ? makePlan(options.fromVersion, options.toVersion!, position, again, routes) : usual;
  describePlan(session, plan, position);
  await forecastPlan(session, plan, position);
  if (!allowUnsupported) {
    requireSupported(plan);
    await session.prepareHops(plan.hops, plan.to.version);
  }
  return plan;
}

export async function planCommand(session: Session): Promise<void> {
  // plan lists the hops bai-migrate cannot take yet; every other command refuses them.
  await planRun(session, planServers(session), { allowUnsupported: true });
}

function describePlan(session: Session, plan: Plan, position: SchemaPosition | undefined): void {
  const { report } = session;
  report.fromVersion = plan.from;
  report.toVersion = plan.to.version;
  report.targetRevision = plan.to.head;
  report.plan = plan.hops.map((hop) => ({
    hop: hop.label,
    targetRevision: hop.to.head,
    steps: hop.steps.map((s) => ({ id: s.id, title: s.title, action: s.action })),
  }));
  // First: a version read otherwise than it was written (22.3 as 22.03) is said before anything is planned from it.
  for (const { input, reading } of plan.readings) session.record({ phase: 'plan', step: input, status: 'ok', detail: reading });
  if (plan.note) session.record({ phase: 'plan', step: 'from-version', status: 'ok', detail: plan.note });
  for (const { detour, why } of plan.routes) session.record({ phase: 'plan', step: detour.input, status: 'ok', detail: why });
  if (plan.hops.length === 0) session.record({ phase: 'plan', step: 'hops', status: 'ok', detail: `already at ${plan.to.version}: nothing to migrate` });
  for (const [i, hop] of plan.hops.entries()) {
    if (hop.unsupported) session.record({ phase: 'plan', hop: hop.label, step: 'hop', status: 'warning', detail: hop.unsupported });
    for (const step of hop.steps) session.record({ phase: 'plan', hop: hop.label, step: step.id, status: 'ok', detail: step.action });
    if (hop.unsupported) continue;
    // Where the hop starts: the database for the first (else every head its line's releases end at), the previous hop's target after.
    const sources = i > 0 ? [[plan.hops[i - 1]!.to.head]] : position ? [[position.revision]] : startHeads(plan.from, hop.fromLine).map((head) => [head]);
    const skips = describeSchemaPlan(hop, sources);
    if (skips) session.record({ phase: 'plan', hop: hop.label, step: 'schema', status: 'ok', detail: `skipped revisions: ${skips}` });
  }
  const readings = plan.readings.map(({ input, reading }) => `; ${input} ${reading}`).join('');
  session.log.info(`Plan: ${plan.from} → ${plan.to.version} (${plan.hops.map((h) => h.label).join(', ') || 'nothing to do'})${readings}`);
}

/** Where a plan without a database starts: from-version's head when it names a release of `line`, else every head that line's releases end at. */
function startHeads(from: string, line: string): string[] {
  const release = findRelease(from);
  return release && sameLine(release, line) ? [release.head] : [...new Set(releasesOf(line).map((r) => r.head))];
}

/** Each step once, in the last hop that has it: preflight, verify and the backup judge the deployment as it stands and as it must end. */
export function lastOccurrences(plan: Plan): Array<{ hop: Hop; step: Step }> {
  const last = new Map<string, Hop>();
  for (const hop of plan.hops) for (const step of hop.steps) last.set(step.id, hop);
  return plan.hops.flatMap((hop) => hop.steps.filter((step) => last.get(step.id) === hop).map((step) => ({ hop, step })));
}

/** The steps that change something, with their hop, in the order migrate runs them. */
export function changeSteps(plan: Plan): Array<{ hop: Hop; step: Step }> {
  return plan.hops.flatMap((hop) => hop.steps.filter((s) => s.kind === 'change').map((step) => ({ hop, step })));
}

/** "hop step", as progress messages name a step. */
export const stepLabel = ({ hop, step }: { hop: Hop; step: Step }): string => `${hop.label} ${step.id}`;

/**
 * Where the schema will stand when `hop` starts, for phases that judge a later hop before the
 * earlier ones ran (preflight, the dry run): the previous hop's head, unless the database is
 * already there or past it (then undefined: as it stands).
 */
export function startOf(plan: Plan, hop: Hop, current: readonly string[]): readonly string[] | undefined {
  const previous = plan.hops[plan.hops.indexOf(hop) - 1];
  if (!previous) return undefined;
  const there = (current.length === 1 && current[0] === previous.to.head) || pastIn(previous.fromLine, previous.to.line, current, previous.to.head);
  return there ? undefined : [previous.to.head];
}
