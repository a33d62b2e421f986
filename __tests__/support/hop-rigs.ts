/**
 * How the hop-contract suite seeds a deployment at each hop's source and gives migrate its alembic,
 * shared with the rehearsal-parity suite: the fixture's scripts up to 22.03, after it the line's
 * graph stand-in (graph-alembic.ts), and for a hop that downgrades first, stand-in manager wheels
 * of both releases that bai-migrate's own manager-venv installs (manager-wheel.ts).
 */
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll } from 'vitest';
import { migrateInputs, TEST_PYTHON, type Admin, type SeedOptions } from './deployment.js';
import { graphAlembic, graphTemplate } from './graph-alembic.js';
import { buildManagerWheel } from './manager-wheel.js';
import { standinManagerCli } from './standin-manager-cli.js';
import type { TestbedInfo } from './testbed.js';
import { HOPS } from '../../src/hops/index.js';
import type { HopDefinition } from '../../src/hops/hop.js';
import { compareLines, latestRelease } from '../../src/releases/releases.js';
import { columnsKeptBy } from '../../src/steps/columns-across-downgrade.js';

/** The lines whose scripts the fixture holds (its tables, with real DDL). */
export const FIXTURE_LAST_LINE = '22.03';

export interface Rig {
  readonly seed: SeedOptions;
  /** How migrate gets its alembic: alembic-command/-config, or manager-venv with its pip arguments. */
  readonly alembic: Record<string, string>;
}

/** What the seeding gives the columns a downgrade drops: values the target's upgrade does not give back by itself. */
export const KEPT_SEED_VALUES: Record<string, string> = {
  'agents.public_host': '192.0.2.7',
  'scaling_groups.is_public': 'false',
  'kernels.role': 'SYSTEM',
  'users.password_changed_at': '2023-01-02T03:04:05Z',
};

export function downgradesFirst(hop: HopDefinition): boolean {
  return hop.steps.some((step) => step.id === 'schema' && /downgrades/i.test(step.action));
}

/**
 * Registers a beforeAll that builds the stand-in wheels of the hops that downgrade first, and one
 * folder of venvs for the whole file (each release's venv made once and reused by its marker).
 */
export function useHopRigs(admin: () => Admin, info: TestbedInfo): { rigFor(hop: HopDefinition): Promise<Rig> } {
  let venvRoot: string;
  let wheels: string;
  beforeAll(() => {
    venvRoot = mkdtempSync(join(tmpdir(), 'bai-contract-venvs-'));
    wheels = mkdtempSync(join(tmpdir(), 'bai-contract-wheels-'));
    for (const hop of HOPS.filter(downgradesFirst)) {
      for (const line of [hop.from, hop.to]) cpSync(buildManagerWheel(latestRelease(line).version, { graphOf: line }), wheels, { recursive: true });
    }
  });

  /** Where a deployment of the hop's first line stands (its latest release's head), and the alembic that takes it on. */
  async function rigFor(hop: HopDefinition): Promise<Rig> {
    const head = latestRelease(hop.from).head;
    const kept = hop.steps.flatMap(columnsKeptBy);
    const seed: SeedOptions =
      compareLines(hop.from, FIXTURE_LAST_LINE) <= 0
        ? { schema: head }
        : {
            schemaOf: {
              template: await graphTemplate(admin(), info, hop.from, head),
              async beforeSeed() {},
              async afterSeed(client) {
                for (const { table, column } of kept) {
                  const { rows } = await client.query(`SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2`, [table, column]);
                  if (rows.length > 0) await client.query(`UPDATE ${table} SET ${column} = $1`, [KEPT_SEED_VALUES[`${table}.${column}`]]);
                }
              },
            },
          };
    if (compareLines(hop.to, FIXTURE_LAST_LINE) <= 0) return { seed, alembic: {} };
    // The manager's CLI of releases after the fixture's (23.09's generate-rpc-keypair).
    const cli = { 'manager-command': standinManagerCli() };
    if (!downgradesFirst(hop)) return { seed, alembic: { 'alembic-config': graphAlembic(hop.to).config, ...cli } };
    return {
      seed,
      alembic: {
        'alembic-command': '',
        'alembic-config': '',
        'manager-venv': venvRoot,
        python: TEST_PYTHON,
        'pip-args': `--no-index --find-links ${wheels}`,
        'venv-system-site-packages': 'true',
        ...cli,
      },
    };
  }
  return { rigFor };
}

/** The inputs of migrating `hop` with `rig`'s alembic. */
export function hopInputs(hop: { from: string; to: string }, toml: string, rig: Rig, extra: Record<string, string> = {}): Record<string, string> {
  const raw: Record<string, string> = migrateInputs(toml, { 'from-version': hop.from, 'to-version': hop.to, ...rig.alembic, ...extra });
  // An empty input is an unset one: manager-venv takes the place of alembic-command.
  return Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== ''));
}
