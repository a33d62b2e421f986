/**
 * Which preflight step checks the hazard of which revision: the hops' own `guards` (hop.ts),
 * looked up by revision id. A revision that fails although its check passed is a gap in preflight.
 */
import { HOPS } from './index.js';
import type { RevisionGuard } from './hop.js';

/** The guard of `revision` and the label of its hop ("23.09 → 24.03"); undefined when no step checks it. */
export function revisionGuard(revision: string): (RevisionGuard & { readonly hop: string }) | undefined {
  for (const hop of HOPS) {
    const guard = hop.guards?.find((g) => g.revision === revision);
    if (guard) return { ...guard, hop: `${hop.from} → ${hop.to}` };
  }
  return undefined;
}
