/**
 * The planning of issue 28: a 24.09.6–24.09.14 database (at ecc9f6322be4, which 24.12 and 25.1 lack)
 * goes 24.09 → 24.12 by 24.09.14's downgrade to e9e574a6e22d, unless unknown-head-route takes the
 * apply-missing route 24.09 → 25.5 (releases.md §3.6, §3.11). With auto the plan takes it when the
 * downgrade's guard finds rows the downgrade would stop on; an explicit value wins; apply-missing
 * with a to-version before 25.5 and an unknown value are refused. `blockers` stands for what the
 * guard step finds on a database (integration/real-2409-255.test.ts reads it from a real one).
 */
import { describe, expect, it } from 'vitest';
import { locateRevision, parseVersion, type SchemaPosition } from '../../../src/releases/catalogue.js';
import { decideDetour, detoursOn, makePlan, type Plan } from '../../../src/hops/plan.js';
import { parseOptions } from '../../../src/options/index.js';
import { schemaRevisionRuns } from '../../../src/steps/schema/index.js';
import type { Hop, Step } from '../../../src/steps/step.js';

const v = (text: string) => parseVersion(text, 'version');
const at = (revision: string) => locateRevision(revision) as SchemaPosition;
/** releases.md §1, §3.6: 24.09.6–24.09.14 end at ecc9f6322be4, 24.09.0–24.09.5 at e9e574a6e22d or before; 25.5.2's head. */
const HEAD_2409_LATE = 'ecc9f6322be4';
const HEAD_2409_EARLY = 'e9e574a6e22d';
const HEAD_2552 = '683ca0a32f41';
/** releases.md §3.6: 24.12's five revisions, which a database at ecc9f6322be4 never ran. */
const REVISIONS_2412 = ['6e44ea67d26e', '428215fddea3', '3215bc85dc45', '0bb88d5a46bf', 'd4c174934fd0'];
const ROWS = ['1 endpoint(s) have no image or one that is gone', '1 vfolder(s) have a name longer than 64 characters'];

/** The guard's findings as a database would give them, and which hop and step were asked. */
function blockersGiving(found: string[] | undefined) {
  const asked: string[] = [];
  const read = async (hop: Hop, step: Step) => {
    asked.push(`${hop.label} ${step.id}`);
    return found;
  };
  return { asked, read };
}

async function planWith(chosen: string, to: string, position: SchemaPosition | undefined, found: string[] | undefined, from?: string) {
  const usual = makePlan(from ? v(from) : undefined, v(to), position);
  const { asked, read } = blockersGiving(found);
  const routes = await Promise.all(detoursOn(usual).map((d) => decideDetour(d, chosen, usual, position, read)));
  return { plan: makePlan(from ? v(from) : undefined, v(to), position, undefined, routes), asked, usual };
}

const labels = (plan: Plan) => plan.hops.map((h) => h.label);
const stepIds = (hop: Hop) => hop.steps.map((s) => s.id);

describe('unknown-head-route', () => {
  it('auto, at 24.09.14 with rows the downgrade stops on: one hop 24.09 → 25.5 to 25.5.2 by apply-missing, with the other hops steps, and says why', async () => {
    const { plan, asked } = await planWith('auto', '25.6', at(HEAD_2409_LATE), ROWS);
    expect(asked).toEqual(['24.09 → 24.12 downgrade-guards']);
    expect(labels(plan)).toEqual(['24.09 → 25.5', '25.5 → 25.6']);
    const detour = plan.hops[0]!;
    expect(detour.to.version).toBe('25.5.2');
    expect(detour.to.head).toBe(HEAD_2552);
    // The checks of the data 25.4's revisions constrain before the schema, 24.12's move and the notes after; no downgrade guard; services-stopped once.
    expect(stepIds(detour)).toEqual([
      'services-stopped',
      'image-identifiers',
      'preset-names',
      'endpoint-token-owners',
      'schema',
      'overlay-network-config',
      'endpoints-replicas',
      'session-statuses',
      'aiomonitor-ports',
      'internal-addr',
    ]);
    expect(plan.routes.map((r) => [r.detour.input, r.take])).toEqual([['unknown-head-route', true]]);
    expect(plan.routes[0]!.why).toBe(`auto: downgrade-guards finds rows the downgrade would stop on (${ROWS.join('; ')}), so the plan goes 24.09 → 25.5 at once: ${plan.routes[0]!.detour.way}`);
    // The schema step applies every revision of 25.5.2 the database lacks, 24.12's among them, with 25.5.2's alembic; none goes down.
    const runs = schemaRevisionRuns(detour, [HEAD_2409_LATE]);
    expect(runs).toHaveLength(13);
    expect(runs.every((r) => r.direction === 'up' && r.by === 'target')).toBe(true);
    expect(runs.map((r) => r.to)).toEqual(expect.arrayContaining([...REVISIONS_2412, HEAD_2552]));
    expect(runs.at(-1)!.to).toBe(HEAD_2552);
    // The run ends with the target's manager starting, on the last hop.
    expect(stepIds(plan.hops[1]!).at(-1)).toBe('manager-starts');
  });

  it('auto, to 25.5.1: the detour ends at the release asked for, with manager-starts', async () => {
    const { plan } = await planWith('auto', '25.5.1', at(HEAD_2409_LATE), ROWS);
    expect(labels(plan)).toEqual(['24.09 → 25.5']);
    expect(plan.hops[0]!.to.version).toBe('25.5.1');
    expect(stepIds(plan.hops[0]!).at(-1)).toBe('manager-starts');
  });

  it('auto without such rows keeps the downgrade, and says so', async () => {
    const { plan, usual } = await planWith('auto', '25.5', at(HEAD_2409_LATE), []);
    expect(labels(plan)).toEqual(labels(usual));
    expect(labels(plan)[0]).toBe('24.09 → 24.12');
    expect(plan.routes.map((r) => [r.take, r.why.split(',')[0]])).toEqual([[false, 'auto: downgrade-guards finds no row the downgrade would stop on']]);
  });

  it('auto where no downgrade is needed (24.09.0–24.09.5) does not read the rows', async () => {
    const { plan, asked } = await planWith('auto', '25.5', at(HEAD_2409_EARLY), ROWS);
    expect(asked).toEqual([]);
    expect(labels(plan)[0]).toBe('24.09 → 24.12');
    expect(plan.routes[0]!.why).toMatch(new RegExp(`^auto: from ${HEAD_2409_EARLY} the hop 24\\.09 → 24\\.12 needs no downgrade`));
  });

  it('auto without a database keeps the downgrade and names the other value', async () => {
    const { plan, asked } = await planWith('auto', '25.5', undefined, undefined, '24.09.14');
    expect(asked).toEqual([]);
    expect(labels(plan)[0]).toBe('24.09 → 24.12');
    expect(plan.routes[0]!.why).toMatch(/^auto: no database to read, .*unknown-head-route apply-missing takes the other route$/);
  });

  it('auto with blocking rows but a to-version before 25.5 keeps the downgrade and says what to do', async () => {
    const { plan } = await planWith('auto', '25.1', at(HEAD_2409_LATE), ROWS);
    expect(labels(plan)).toEqual(['24.09 → 24.12', '24.12 → 25.1']);
    expect(plan.routes[0]!.take).toBe(false);
    expect(plan.routes[0]!.why).toMatch(/to-version 25\.1\.1 ends before it, .*preflight refuses until those rows are fixed \(or set to-version to 25\.5 or later\)$/);
  });

  it('an explicit value wins: downgrade keeps the usual hops whatever the rows; apply-missing takes the route without reading them, even without a database', async () => {
    const down = await planWith('downgrade', '25.5', at(HEAD_2409_LATE), ROWS);
    expect(down.asked).toEqual([]);
    expect(labels(down.plan)[0]).toBe('24.09 → 24.12');
    expect(down.plan.routes[0]!.why).toMatch(/^downgrade: the plan keeps the usual way/);
    const jump = await planWith('apply-missing', '25.5', undefined, [], '24.09.14');
    expect(jump.asked).toEqual([]);
    expect(labels(jump.plan)).toEqual(['24.09 → 25.5']);
  });

  it('a plan from before 24.09 judges the rows where the usual hop would start (24.09.14), and takes the route from the 24.09 hop on', async () => {
    const noDatabase = await planWith('auto', '25.5', undefined, undefined, '24.03');
    expect(noDatabase.asked).toEqual(['24.09 → 24.12 downgrade-guards']);
    expect(labels(noDatabase.plan).slice(0, 2)).toEqual(['24.03 → 24.09', '24.09 → 24.12']);
    const blocked = await planWith('auto', '25.5', undefined, ROWS, '24.03');
    expect(labels(blocked.plan)).toEqual(['24.03 → 24.09', '24.09 → 25.5']);
    const explicit = await planWith('apply-missing', '25.5', undefined, undefined, '24.03');
    expect(labels(explicit.plan)).toEqual(['24.03 → 24.09', '24.09 → 25.5']);
  });

  it('a detour a killed run left unfinished (the journal says so) is planned again from 24.09 by the same route, whatever auto would find', async () => {
    const again = { hops: ['24.09 → 25.5'], because: "bai-migrate's journal has the hop {hop} as started and not finished" };
    const usual = makePlan(undefined, v('25.5'), at(HEAD_2552), again);
    const { asked, read } = blockersGiving([]);
    const routes = await Promise.all(detoursOn(usual).map((d) => decideDetour(d, 'auto', usual, at(HEAD_2552), read)));
    const plan = makePlan(undefined, v('25.5'), at(HEAD_2552), again, routes);
    expect(asked).toEqual([]);
    expect(labels(plan)).toEqual(['24.09 → 25.5']);
    expect(plan.note).toMatch(/journal has the hop 24\.09 → 25\.5 as started and not finished, so it is planned again$/);
    // Its schema step has nothing left to run; the steps after it run again (they are idempotent).
    expect(schemaRevisionRuns(plan.hops[0]!, [HEAD_2552])).toEqual([]);
    // Without the journal's word, a database at 25.5.2's head has nothing to do.
    expect(labels(makePlan(undefined, v('25.5'), at(HEAD_2552)))).toEqual([]);
  });

  it('a plan that does not pass 24.09 → 24.12 has no route to choose', () => {
    expect(detoursOn(makePlan(v('25.1'), v('25.6')))).toEqual([]);
    expect(detoursOn(makePlan(v('24.12'), v('25.5')))).toEqual([]);
  });

  it('refuses apply-missing with a to-version before 25.5, and a value it does not know, naming what is accepted', async () => {
    await expect(planWith('apply-missing', '25.1', at(HEAD_2409_LATE), ROWS)).rejects.toThrow(
      /^unknown-head-route is apply-missing, which goes from 24\.09 straight to 25\.5, and to-version 25\.1\.1 ends before 25\.5; accepted: downgrade or auto, or apply-missing with a to-version of 25\.5 or later$/,
    );
    expect(() => parseOptions({ command: 'plan', 'to-version': '25.5', 'unknown-head-route': 'jump' })).toThrow(
      /unknown-head-route "jump" is not accepted; accepted: .*auto.*downgrade.*apply-missing/,
    );
    expect(parseOptions({ command: 'plan', 'to-version': '25.5' }).unknownHeadRoute).toBe('auto');
  });
});
