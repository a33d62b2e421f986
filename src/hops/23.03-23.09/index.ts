/**
 * 23.03 → 23.09: the schema upgrades plainly (23.03.12's head is an ancestor of 23.09's, nothing is
 * skipped; go straight to the final patch, since caf54fcc17ab failed on association tables without
 * primary keys until 23.09.10). The manager now requires its RPC key pair, the schema gives every
 * user a main keypair, and webserver.conf changes shape (backend.ai@23.09.10:MIGRATION.md).
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schema } from '../../steps/schema/index.js';
import { guideNote } from '../../steps/guide-note.js';
import { rpcKeypair } from './rpc-keypair.js';
import { userMainKeypair } from './user-main-keypair.js';
import type { HopDefinition } from '../hop.js';

const webserverConfig = guideNote({
  id: 'webserver-config',
  title: 'webserver.conf',
  action: 'The guide asks for the new required [webserver], [logging] and [debug] tables in webserver.conf, and session.redis.host/port become session.redis.addr = "host:port".',
  why: "webserver.conf is on the webserver's host, outside the manager's stores: edit it there before starting the 23.09 webserver",
});

export const hop: HopDefinition = { from: '23.03', to: '23.09', steps: [servicesStopped, userMainKeypair, schema, rpcKeypair, webserverConfig] };
