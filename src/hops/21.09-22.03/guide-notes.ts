/**
 * Items of the 21.09 → 22.03 guide that are not changes bai-migrate makes during the migration.
 * They stay in the plan so that the operator sees every item of the guide.
 */
import { skipped, type Step } from '../../steps/step.js';

export const storageProxy: Step = {
  id: 'storage-proxy',
  title: 'Storage proxy',
  kind: 'note',
  action: 'No documented step: the guide\'s "(TODO) storage-proxy related stuffs" item was never written upstream.',
  servers: [],
  async preflight() {
    return [skipped('no documented step: the upgrade guide has only "(TODO) storage-proxy related stuffs" here')];
  },
};

export const clearHistorySchedule: Step = {
  id: 'clear-history-schedule',
  title: 'Daily clear-history',
  kind: 'note',
  action: 'The guide asks for a daily `backend.ai mgr clear-history -r {retention}`; schedule `command: clear-history` in a nightly workflow.',
  servers: [],
  async preflight() {
    return [skipped('scheduled separately: see the nightly clear-history workflow in README')];
  },
};
