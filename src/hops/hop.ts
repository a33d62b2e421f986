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
