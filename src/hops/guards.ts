/**
 * Which preflight step checks the hazard of which revision: the hops' own `guards` (hop.ts),
 * and the detours' (the spanned hops' guards but those of the steps a detour leaves out), looked
 * up by revision id. A revision that fails although its check passed is a gap in preflight.
 */
import { DETOURS, HOPS } from './index.js';
import type { RevisionGuard } from './hop.js';

/**
 * The guard of `revision` and the label of its hop ("23.09 → 24.03"); undefined when no step checks
 * it. A revision two hops guard (ecc9f6322be4: its downgrade in 24.09 → 24.12, its upgrade in
 * 25.1 → 25.2) is looked up for `hop`, the hop it failed in, when that hop has a guard for it.
 */
export function revisionGuard(revision: string, hop?: string): (RevisionGuard & { readonly hop: string }) | undefined {
  const found = [...HOPS, ...DETOURS].flatMap((h) => (h.guards ?? []).filter((g) => g.revision === revision).map((g) => ({ ...g, hop: `${h.from} → ${h.to}` })));
  return found.find((g) => g.hop === hop) ?? found[0];
}
