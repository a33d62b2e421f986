/**
 * A step kind: an item of the upgrade guide that bai-migrate does not carry out during the
 * migration (work on other hosts, or a schedule). It stays in the plan so that the operator sees
 * every item of the guide, and preflight reports it as skipped with the reason.
 */
import { skipped, type Step } from './step.js';

export interface GuideNoteSpec {
  readonly id: string;
  readonly title: string;
  /** What the guide asks for, for the plan. */
  readonly action: string;
  /** Why bai-migrate leaves it to the operator, for preflight. */
  readonly why: string;
}

export function guideNote(spec: GuideNoteSpec): Step {
  return {
    id: spec.id,
    title: spec.title,
    kind: 'note',
    action: spec.action,
    servers: [],
    async preflight() {
      return [skipped(spec.why)];
    },
  };
}
