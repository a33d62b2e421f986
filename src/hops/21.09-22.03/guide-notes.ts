/** Items of the 21.09 → 22.03 guide that are not changes bai-migrate makes during the migration. */
import { guideNote } from '../../steps/guide-note.js';

export const storageProxy = guideNote({
  id: 'storage-proxy',
  title: 'Storage proxy',
  action: 'No documented step: the guide\'s "(TODO) storage-proxy related stuffs" item was never written upstream.',
  why: 'no documented step: the upgrade guide has only "(TODO) storage-proxy related stuffs" here',
});

export const clearHistorySchedule = guideNote({
  id: 'clear-history-schedule',
  title: 'Daily clear-history',
  action: 'The guide asks for a daily `backend.ai mgr clear-history -r {retention}`; schedule `command: clear-history` in a nightly workflow.',
  why: 'scheduled separately: see the nightly clear-history workflow in README',
});
