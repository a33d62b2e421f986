/**
 * 22.03 → 22.09: no upgrade-guide section; the schema upgrades plainly (22.03.14's head is an
 * ancestor of 22.09's, nothing is skipped), alembic.ini must name the asyncpg driver, and from 22.09
 * every server component must run exactly the same version.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { managerConnects } from '../../steps/manager-connects.js';
import { schema } from '../../steps/schema/index.js';
import { guideNote } from '../../steps/guide-note.js';
import { alembicIniUrl } from './alembic-ini-url.js';
import type { HopDefinition } from '../hop.js';

// backend.ai@26.8.1:docs/dev/version-management-and-upgrades.rst
const sameVersionEverywhere = guideNote({
  id: 'same-version-everywhere',
  title: 'Every component on the same release',
  action: 'From 22.09 the manager, agents, storage proxies and webserver must run exactly the same release; upgrade each of them to the target release before starting any.',
  why: 'agents, storage proxies and webservers are installed on their own hosts: upgrade their packages to the same release before starting them',
});

export const hop: HopDefinition = { from: '22.03', to: '22.09', steps: [servicesStopped, managerConnects, schema, alembicIniUrl, sameVersionEverywhere] };
