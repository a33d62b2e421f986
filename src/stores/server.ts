/** What the three stores share: their names, how a connection attempt is reported, and the bound on every call. */
import { MigrationError, type ErrorCode } from '../core/errors.js';
import { withTimeout } from '../core/time.js';

export type Server = 'postgres' | 'redis' | 'etcd';

export const SERVER_NAMES: Record<Server, string> = { postgres: 'PostgreSQL', redis: 'Redis', etcd: 'etcd' };

export interface ConnectResult {
  readonly server: Server;
  readonly ok: boolean;
  readonly detail: string;
  /** Why it failed, as the run's error code: unreachable, authentication-failed, invalid-input (an empty etcd namespace); none when not tried. */
  readonly code?: ErrorCode;
}

/** Rejects with a message naming the server when `promise` does not settle within `timeoutMs`. */
export function bounded<T>(server: Server, promise: Promise<T>, timeoutMs: number): Promise<T> {
  return withTimeout(promise, timeoutMs, () => {
    throw new MigrationError('unreachable', `${SERVER_NAMES[server]} did not answer within ${timeoutMs / 1000} s`);
  });
}

/** An open connection to one store and how the connect phase reports it ("PostgreSQL at …: PostgreSQL 13.4"). */
export interface Connected<Client> {
  readonly client: Client;
  readonly detail: string;
}
