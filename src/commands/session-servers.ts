/**
 * The session's hold on the deployment's servers: connecting to them (an unreachable one ends the
 * run, or warns), naming the ones that stopped answering, and the migration lock. Apart from the
 * session because these are the only parts that talk to the servers themselves.
 */
import { MigrationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { whileWaiting } from '../core/progress.js';
import type { ReportEntry } from '../core/report/index.js';
import type { Options } from '../options/index.js';
import { grpcCause, SERVER_NAMES, type Deployment, type Server } from '../stores/deployment.js';
import { acquireMigrationLock, type MigrationLock } from '../stores/lock.js';

/** Connects; an unreachable server ends the run unless it is `optional` (then it is a warning). Each server's outcome is recorded. */
export async function connectServers(deployment: Deployment, log: Logger, record: (entry: ReportEntry) => void, servers: readonly Server[], optional: readonly Server[]): Promise<Set<Server>> {
  if (servers.length === 0) return new Set();
  const results = await log.group('Connect', async () => {
    const outcome = await deployment.connect(servers);
    for (const r of outcome) {
      const status = r.ok ? 'ok' : optional.includes(r.server) ? 'warning' : 'failed';
      record({ phase: 'connect', step: SERVER_NAMES[r.server], status, detail: r.detail });
    }
    return outcome;
  });
  const down = results.filter((r) => !r.ok && !optional.includes(r.server));
  if (down.length > 0) {
    // A server out of reach comes first; otherwise the cause (credentials, an empty namespace) is the code.
    const codes = down.flatMap((r) => (r.code ? [r.code] : []));
    const code = codes.length === 0 || codes.includes('unreachable') ? 'unreachable' : codes[0]!;
    throw new MigrationError(
      code,
      down.map((r) => `${SERVER_NAMES[r.server]}: ${r.detail}`).join('\n'),
      `${down.map((r) => SERVER_NAMES[r.server]).join(', ')} ${code === 'unreachable' ? 'unreachable' : 'refused the connection'} (reported above)`,
    );
  }
  return new Set(results.filter((r) => r.ok).map((r) => r.server));
}

/** "PostgreSQL at h:p/db … is unreachable: …; it stopped with: <message>", or the message alone when every server answers. */
export async function withServersDown(deployment: Deployment, servers: readonly Server[], message: string): Promise<string> {
  const down = await deployment.unreachable(servers);
  return down.length > 0 ? `${down.join('; ')}; it stopped with: ${grpcCause(message)}` : message;
}

/** The migration lock, waiting up to lock-timeout for a run that holds it. */
export function waitForMigrationLock(deployment: Deployment, options: Options, log: Logger): Promise<MigrationLock> {
  return whileWaiting({ log, what: `the migration lock (another bai-migrate run holds it; lock-timeout ${options.lockTimeoutSeconds} s)` }, () =>
    acquireMigrationLock(deployment.targets.postgres!, options.lockTimeoutSeconds, options.connectTimeoutSeconds * 1000),
  );
}
