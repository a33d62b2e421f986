/** The hops bai-migrate can take: adding a release line adds one folder and one line here. */
import { servicesStopped } from '../steps/services-stopped.js';
import { schema } from '../steps/schema/index.js';
import type { Step } from '../steps/step.js';
import type { HopDefinition } from './hop.js';
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

/** Every table a step reads or writes, and kernels for clear-history: the rows a rehearsal needs. */
export const TABLES_STEPS_TOUCH: readonly string[] = [...new Set([...HOPS.flatMap((h) => h.steps), ...PATCH_STEPS].flatMap((step) => step.tables ?? []).concat('kernels'))];
