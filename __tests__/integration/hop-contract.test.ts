/**
 * The contract every hop keeps, run against real servers for each hop in src/hops (a new hop
 * folder joins by being listed in HOPS): verify fails before and passes after; the dry run writes
 * nothing; a second migrate changes nothing; a run killed after any step is completed by a re-run.
 * Each hop runs with a stand-in alembic of the real revision graph (rigFor says which): the
 * fixture's scripts up to 22.03, after it the line's graph stand-in (support/graph-alembic.ts),
 * and for a hop that downgrades first, stand-in manager wheels of both releases that bai-migrate's
 * own manager-venv installs (support/manager-wheel.ts). The real packages of 22.09.23 → 23.03.12
 * run in real-hop.test.ts.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { snapshotState, useDeployments } from '../support/deployment.js';
import { hopInputs as inputs, useHopRigs } from '../support/hop-rigs.js';
import { killDistWhen, runEngine } from '../support/run.js';
import { HOPS } from '../../src/hops/index.js';
import type { HopDefinition } from '../../src/hops/hop.js';
import { columnsKeptBy } from '../../src/steps/columns-across-downgrade.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

/** The kept columns the seeding filled (the fixture's schema has no users table), each with its one value. */
async function keptColumnValues(client: pg.Client, hop: HopDefinition): Promise<Record<string, string[]>> {
  const values: Record<string, string[]> = {};
  for (const { table, column } of hop.steps.flatMap(columnsKeptBy)) {
    const { rows } = await client.query(`SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2`, [table, column]);
    if (rows.length === 0) continue;
    const { rows: held } = await client.query<{ value: string }>(`SELECT DISTINCT ${column}::text AS value FROM ${table}`);
    values[`${table}.${column}`] = held.map((r) => r.value);
  }
  return values;
}

const { rigFor } = useHopRigs(admin, info);

it('seeds values the upgrade would not give back in every kept column the stand-in schema has', async () => {
  const hop = HOPS.find((h) => h.steps.flatMap(columnsKeptBy).length > 0)!;
  const deployment = await deploy((await rigFor(hop)).seed);
  expect(await keptColumnValues(deployment.pg, hop)).toEqual({ 'agents.public_host': ['192.0.2.7'], 'scaling_groups.is_public': ['false'], 'kernels.role': ['SYSTEM'] });
});

const asArgs = (raw: Record<string, string>) => Object.entries(raw).flatMap(([k, v]) => (k === 'command' ? [v] : [`--${k}`, v]));
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.each(HOPS.map((hop) => [`${hop.from} → ${hop.to}`, hop] as const))('hop %s keeps the contract', (label, hop) => {
  it('verify fails before and passes after; the dry run writes nothing; a second run changes nothing', async () => {
    const rig = await rigFor(hop);
    const deployment = await deploy(rig.seed);
    const toml = deployment.writeManagerToml();
    const seeded = await keptColumnValues(deployment.pg, hop);
    const before = await runEngine(inputs(hop, toml, rig, { command: 'verify' }));
    expect(before.report.outcome).toBe('failure');

    const untouched = await snapshotState(admin(), deployment);
    const dry = await runEngine(inputs(hop, toml, rig, { 'dry-run': 'true' }));
    expect(dry.report.error).toBeUndefined();
    expect(await snapshotState(admin(), deployment)).toEqual(untouched);

    const first = await runEngine(inputs(hop, toml, rig));
    expect(first.report.error).toBeUndefined();
    const after = await runEngine(inputs(hop, toml, rig, { command: 'verify' }));
    expect(after.report.error).toBeUndefined();
    // A column the downgrade dropped holds its seeded values again, not the upgrade's defaults.
    expect(await keptColumnValues(deployment.pg, hop)).toEqual(seeded);

    const migrated = await snapshotState(admin(), deployment);
    const second = await runEngine(inputs(hop, toml, rig));
    expect(second.report.error).toBeUndefined();
    expect(second.report.entries.filter((e) => e.phase === 'apply' && e.status === 'changed')).toEqual([]);
    expect(second.report.backup).toBeUndefined();
    expect(await snapshotState(admin(), deployment)).toEqual(migrated);
  });

  it.each(hop.steps.filter((s) => s.kind === 'change').map((s) => [s.id]))(`a run killed after ${label} %s is completed by the next`, async (stepId) => {
    const rig = await rigFor(hop);
    const deployment = await deploy(rig.seed);
    const toml = deployment.writeManagerToml();
    const seeded = await keptColumnValues(deployment.pg, hop);
    const raw = inputs(hop, toml, rig);
    // The step's apply line in the migrate phase (preflight prints lines of the same shape before it).
    const applied = new RegExp(`== Migrate ${escape(label)}[\\s\\S]*(ok|changed|skipped|warning): ${escape(label)} ${escape(stepId)}: `);
    const { killed } = await killDistWhen(asArgs(raw), {}, applied);
    expect(killed).toBe(true);
    const again = await runEngine(raw);
    expect(again.report.error).toBeUndefined();
    const verified = await runEngine({ ...raw, command: 'verify' });
    expect(verified.report.error).toBeUndefined();
    // A resumed run puts back what was kept before the kill, never the upgrade's defaults.
    expect(await keptColumnValues(deployment.pg, hop)).toEqual(seeded);
  });
});
