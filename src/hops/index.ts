/** The hops bai-migrate can take: adding a release line adds one folder and one line here. */
import { servicesStopped } from '../steps/services-stopped.js';
import { schema } from '../steps/schema/index.js';
import type { Step } from '../steps/step.js';
import type { DetourDefinition, HopDefinition, RevisionGuard } from './hop.js';
import { hop as from2103 } from './21.03-21.09/index.js';
import { hop as from2109 } from './21.09-22.03/index.js';
import { hop as from2203 } from './22.03-22.09/index.js';
import { hop as from2209 } from './22.09-23.03/index.js';
import { hop as from2303 } from './23.03-23.09/index.js';
import { hop as from2309 } from './23.09-24.03/index.js';
import { hop as from2403 } from './24.03-24.09/index.js';
import { hop as from2409 } from './24.09-24.12/index.js';
import { hop as from2412 } from './24.12-25.1/index.js';
import { hop as from2501 } from './25.1-25.2/index.js';
import { hop as from2502 } from './25.2-25.3/index.js';
import { hop as from2503 } from './25.3-25.4/index.js';
import { hop as from2504 } from './25.4-25.5/index.js';
import { hop as from2505 } from './25.5-25.6/index.js';
import { hop as from2506 } from './25.6-25.7/index.js';
import { hop as from2507 } from './25.7-25.8/index.js';
import { hop as from2508 } from './25.8-25.9/index.js';
import { hop as from2509 } from './25.9-25.10/index.js';
import { hop as from2510 } from './25.10-25.11/index.js';
import { hop as from2511 } from './25.11-25.12/index.js';
import { hop as from2512 } from './25.12-25.13/index.js';
import { hop as from2513 } from './25.13-25.14/index.js';
import { hop as from2514 } from './25.14-25.15/index.js';
import { hop as from2515 } from './25.15-25.16/index.js';
import { hop as from2516 } from './25.16-25.17/index.js';
import { hop as from2517 } from './25.17-25.18/index.js';
import { hop as from2518 } from './25.18-25.19/index.js';
import { detour as from2409to2505 } from './24.09-25.5/index.js';

export const HOPS: readonly HopDefinition[] = [
  from2103,
  from2109,
  from2203,
  from2209,
  from2303,
  from2309,
  from2403,
  from2409,
  from2412,
  from2501,
  from2502,
  from2503,
  from2504,
  from2505,
  from2506,
  from2507,
  from2508,
  from2509,
  from2510,
  from2511,
  from2512,
  from2513,
  from2514,
  from2515,
  from2516,
  from2517,
  from2518,
];

/** Steps of a major hop, keyed "from→to"; a patch upgrade within a line only runs the schema. */
export const HOP_STEPS: Readonly<Record<string, readonly Step[]>> = Object.fromEntries(HOPS.map((h) => [`${h.from}→${h.to}`, h.steps]));

export const PATCH_STEPS: readonly Step[] = [servicesStopped, schema];

/** A detour with the steps it runs: its own schema step amid the spanned hops' other steps. */
export interface Detour extends DetourDefinition {
  readonly steps: readonly Step[];
  readonly guards: readonly RevisionGuard[];
  /** The hops it spans, "24.09→24.12", …, as HOP_STEPS names them. */
  readonly spans: readonly string[];
}

/**
 * The spanned hops' steps in their order, without their schema steps and the ones the detour leaves
 * out, each once: those before a hop's schema step go before the detour's schema step, the rest
 * after it (a check before the revisions it guards, a move or note after them).
 */
function composeDetour(definition: DetourDefinition): Detour {
  const first = HOPS.findIndex((h) => h.from === definition.from);
  const last = HOPS.findIndex((h) => h.to === definition.to);
  if (first < 0 || last < first) throw new Error(`detour ${definition.from} → ${definition.to} spans no hops of HOPS`);
  const spanned = HOPS.slice(first, last + 1);
  const before: Step[] = [];
  const after: Step[] = [];
  for (const hop of spanned) {
    const schemaAt = hop.steps.findIndex((step) => step.id === 'schema');
    hop.steps.forEach((step, i) => {
      if (step.id === 'schema' || step.id in definition.leaves || [...before, ...after].some((s) => s.id === step.id)) return;
      (i < schemaAt ? before : after).push(step);
    });
  }
  return {
    ...definition,
    steps: [...before, definition.schema, ...after],
    guards: spanned.flatMap((h) => (h.guards ?? []).filter((g) => !(g.step in definition.leaves))),
    spans: spanned.map((h) => `${h.from}→${h.to}`),
  };
}

/** The routes a plan may take instead of several hops (hops/plan.ts, decideDetour). */
export const DETOURS: readonly Detour[] = [composeDetour(from2409to2505)];

/** Every table a step reads or writes, and kernels for clear-history: the rows a rehearsal needs. */
export const TABLES_STEPS_TOUCH: readonly string[] = [
  ...new Set([...HOPS.flatMap((h) => h.steps), ...DETOURS.flatMap((d) => d.steps), ...PATCH_STEPS].flatMap((step) => step.tables ?? []).concat('kernels')),
];
