/**
 * What the manager-starts step (src/steps/manager-starts.ts) needs to know of each line's
 * `backend.ai mgr start-server`: which of its manager.toml keys it rewrites for a copy, which
 * log lines of an otherwise sound start are known to be harmless, and which read-only GraphQL
 * query proves the API serves the main tables. Lines before `since` of the first entry are not
 * started (the step reports that it has no facts for them).
 */
import { compareLines } from './releases.js';

export interface ManagerStartFacts {
  /** The first line these facts hold for (up to the next entry's). */
  readonly since: string;
  /**
   * `[manager] rpc-auth-manager-keypair` must name an existing file or the loader refuses to start
   * (backend.ai@23.09.10:src/ai/backend/manager/config.py, `tx.Path(type="file")`, default
   * fixtures/manager/manager.key_secret under the working directory; see src/hops/23.03-23.09/rpc-keypair.ts).
   */
  readonly rpcKeypairRequired: boolean;
  /**
   * aiomonitor's two ports (backend.ai@23.09.10 and @24.12.1:src/ai/backend/manager/config.py,
   * `aiomonitor-termui-port` (alias aiomonitor-port) and `aiomonitor-webui-port`, each + the process index).
   */
  readonly aiomonitorKeys: readonly string[];
  /** Other [manager] host-port keys the manager binds a listener on, which a copy moves to a free loopback port. */
  readonly listenerKeys: readonly string[];
  /**
   * What a sound start logs at ERROR on a host like the test bed, which the proof does not count:
   * a substring of the error line with the first exception of its traceback.
   */
  readonly harmlessLogErrors: ReadonlyArray<{ readonly text: string; readonly why: string }>;
  /**
   * A read-only query of the admin GraphQL endpoint (POST /admin/gql, backend.ai@24.12.1:src/ai/backend/manager/api/admin.py)
   * that touches users, vfolders, sessions (with their kernels) and agents.
   */
  readonly proofQuery: string;
}

// user_list, vfolder_list, compute_session_list and agent_list take limit and offset in both
// (backend.ai@23.09.10 and @24.12.1:src/ai/backend/manager/api/schema.graphql).
const PROOF_QUERY =
  'query { user_list(limit: 1, offset: 0) { total_count } vfolder_list(limit: 1, offset: 0) { total_count } compute_session_list(limit: 1, offset: 0) { total_count items { id status } } agent_list(limit: 1, offset: 0) { total_count } }';

const FROM_2309: ManagerStartFacts = {
  since: '23.09',
  rpcKeypairRequired: true,
  aiomonitorKeys: ['aiomonitor-termui-port', 'aiomonitor-webui-port'],
  listenerKeys: [],
  harmlessLogErrors: [
    {
      // The overlay network plugin asks Docker for swarm mode at start and logs "error during
      // initialization of plugin: overlay" when this host runs none
      // (backend.ai@24.12.1:src/ai/backend/manager/network/overlay.py, OverlayNetworkError);
      // the manager needs it only for multi-node sessions. Seen on the test bed with 24.12.1.
      text: 'Docker swarm not enabled on system',
      why: "the overlay network plugin's complaint that Docker swarm is off on this host (multi-node sessions only)",
    },
  ],
  proofQuery: PROOF_QUERY,
};

const SERVICE_DISCOVERY_SWEEP: ManagerStartFacts['harmlessLogErrors'][number] = {
  // 25.8's service discovery sweeps unhealthy services every few seconds; etcd's discovery
  // raises ValueError("No service groups found.") while no service has registered yet, and the
  // sweep logs it and tries again (backend.ai@25.8.1:src/ai/backend/common/service_discovery/
  // service_discovery.py, _sweep_unhealthy_services_loop; etcd_discovery/service_discovery.py, discover).
  text: 'Error sweeping unhealthy services: No service groups found.',
  why: 'the service discovery sweep before any service registered (it retries)',
};

export const MANAGER_START_FACTS: readonly ManagerStartFacts[] = [
  FROM_2309,
  // 25.5 adds `internal-addr` (default 0.0.0.0:18080), a second listener for the internal API
  // (backend.ai@25.5.2:src/ai/backend/manager/config.py, server.py).
  { ...FROM_2309, since: '25.5', listenerKeys: ['internal-addr'] },
  {
    ...FROM_2309,
    since: '25.8',
    listenerKeys: ['internal-addr'],
    harmlessLogErrors: [...FROM_2309.harmlessLogErrors, SERVICE_DISCOVERY_SWEEP],
  },
  {
    ...FROM_2309,
    since: '25.13',
    listenerKeys: ['internal-addr'],
    harmlessLogErrors: [
      ...FROM_2309.harmlessLogErrors,
      SERVICE_DISCOVERY_SWEEP,
      {
        // 25.13 words the overlay plugin's complaint anew ("Docker Swarm is not enabled on this system. To use
        // overlay networks for multi-node sessions, initialize Docker Swarm …", backend.ai@25.13.4:src/ai/backend/
        // manager/network/overlay.py, OverlayNetworkError); seen on the test bed with the real 25.13.4.
        text: 'Docker Swarm is not enabled on this system',
        why: "the overlay network plugin's complaint that Docker swarm is off on this host (multi-node sessions only)",
      },
    ],
  },
];

/** The facts for `version`'s line; undefined for a line before the first entry. */
export function managerStartFacts(version: string): ManagerStartFacts | undefined {
  const line = version.split('.').slice(0, 2).join('.');
  return [...MANAGER_START_FACTS].reverse().find((f) => compareLines(line, f.since) >= 0);
}
