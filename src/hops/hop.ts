/** What changes between two consecutive release lines: one folder per hop holds its definition and its own steps. */
import type { Step } from '../steps/step.js';

export interface HopDefinition {
  readonly from: string;
  readonly to: string;
  /** In the order the upgrade guide gives them. */
  readonly steps: readonly Step[];
  /**
   * The target line's revisions whose known hazard one of these steps checks before the schema step
   * runs them: when such a revision fails all the same, the report says that preflight checked it
   * and passed, which is a gap to report (hops/guards.ts).
   */
  readonly guards?: readonly RevisionGuard[];
}

export interface RevisionGuard {
  readonly revision: string;
  /** The id of the step of this hop that checks it. */
  readonly step: string;
  /** What the revision would stop on, as the check looks for it. */
  readonly hazard: string;
}

/**
 * A route over several lines at once that a plan may take instead of the hops it spans, when the
 * first of them cannot go its usual way on this database's data. Its folder holds what is its own
 * (the schema step, which of the spanned hops' steps it leaves out and why); src/hops/index.ts
 * adds the spanned hops' other steps, so nothing is written twice.
 */
export interface DetourDefinition {
  readonly from: string;
  readonly to: string;
  /** The input that chooses between the usual hops and this route, and its value that takes this route. */
  readonly input: string;
  readonly value: string;
  /** The input's value that keeps the usual hops. */
  readonly usual: string;
  /** What the usual way does that this route avoids, for the plan ("24.09.14's downgrade to e9e574a6e22d"). */
  readonly usualWay: string;
  /** What this route does, for the plan. */
  readonly way: string;
  /** The step of the first spanned hop whose failure means the usual way would stop: with the input at auto, the plan then takes this route. */
  readonly blockedBy: string;
  /** This route's schema step. */
  readonly schema: Step;
  /** The spanned hops' steps it leaves out (by id), and why. */
  readonly leaves: Readonly<Record<string, string>>;
}
