/**
 * The contract every hop keeps, run against real servers for each hop in src/hops (a new hop
 * folder joins by being listed in HOPS): verify fails before and passes after; the dry run writes
 * nothing; a second migrate changes nothing; a run killed after any step is completed by a re-run.
 * These hops run with the stand-in alembic project (real revision ids and graph, see fixtures/alembic).
 */
import { describe, expect, inject, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments } from '../support/deployment.js';
import { killDistWhen, runEngine } from '../support/run.js';
import { HOPS } from '../../src/hops/index.js';
import { latestRelease } from '../../src/releases/releases.js';

const info = inject('testbed');
const { admin, deploy } = useDeployments(info);

/** Where a deployment of the hop's first line stands: its latest release's head. */
const seedFor = (from: string) => ({ schema: latestRelease(from).head });

function inputs(hop: { from: string; to: string }, toml: string, extra: Record<string, string> = {}) {
  return migrateInputs(toml, { 'from-version': hop.from, 'to-version': hop.to, ...extra });
}

const asArgs = (raw: Record<string, string>) => Object.entries(raw).flatMap(([k, v]) => (k === 'command' ? [v] : [`--${k}`, v]));
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.each(HOPS.map((hop) => [`${hop.from} → ${hop.to}`, hop] as const))('hop %s keeps the contract', (label, hop) => {
  it('verify fails before and passes after; the dry run writes nothing; a second run changes nothing', async () => {
    const deployment = await deploy(seedFor(hop.from));
    const toml = deployment.writeManagerToml();
    const before = await runEngine(inputs(hop, toml, { command: 'verify' }));
    expect(before.report.outcome).toBe('failure');

    const untouched = await snapshotState(admin(), deployment);
    const dry = await runEngine(inputs(hop, toml, { 'dry-run': 'true' }));
    expect(dry.report.error).toBeUndefined();
    expect(await snapshotState(admin(), deployment)).toEqual(untouched);

    const first = await runEngine(inputs(hop, toml));
    expect(first.report.error).toBeUndefined();
    const after = await runEngine(inputs(hop, toml, { command: 'verify' }));
    expect(after.report.error).toBeUndefined();

    const migrated = await snapshotState(admin(), deployment);
    const second = await runEngine(inputs(hop, toml));
    expect(second.report.error).toBeUndefined();
    expect(second.report.entries.filter((e) => e.phase === 'apply' && e.status === 'changed')).toEqual([]);
    expect(second.report.backup).toBeUndefined();
    expect(await snapshotState(admin(), deployment)).toEqual(migrated);
  });

  it.each(hop.steps.filter((s) => s.kind === 'change').map((s) => [s.id]))(`a run killed after ${label} %s is completed by the next`, async (stepId) => {
    const deployment = await deploy(seedFor(hop.from));
    const toml = deployment.writeManagerToml();
    const raw = inputs(hop, toml);
    // The step's apply line in the migrate phase (preflight prints lines of the same shape before it).
    const applied = new RegExp(`== Migrate ${escape(label)}[\\s\\S]*(ok|changed|skipped|warning): ${escape(label)} ${escape(stepId)}: `);
    const { killed } = await killDistWhen(asArgs(raw), {}, applied);
    expect(killed).toBe(true);
    const again = await runEngine(raw);
    expect(again.report.error).toBeUndefined();
    const verified = await runEngine({ ...raw, command: 'verify' });
    expect(verified.report.error).toBeUndefined();
  });
});
