/** What changes between two consecutive release lines: one folder per hop holds its definition and its own steps. */
import type { Step } from '../steps/step.js';

export interface HopDefinition {
  readonly from: string;
  readonly to: string;
  /** In the order the upgrade guide gives them. */
  readonly steps: readonly Step[];
}
