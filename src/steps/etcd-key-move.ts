/**
 * A step kind: keys that a release reads under a new etcd prefix (e.g. 24.12 reads
 * config/plugins/network/overlay/ where 24.09 read config/network/overlay/). Each key is copied to
 * its new name and deleted from its old one in one etcd transaction that holds only if the old
 * key still has the value that was read, so a crash leaves every key in one place or the other and
 * a re-run carries on. A key whose new name already holds a different value is never overwritten:
 * the operator decides which one the new release should read.
 */
import type { Deployment } from '../stores/deployment.js';
import { changed, failed, ok, type Finding, type Step } from './step.js';

export interface EtcdKeyMoveSpec {
  readonly id: string;
  readonly title: string;
  /** Old and new prefix, relative to the namespace, each ending with "/". */
  readonly from: string;
  readonly to: string;
  /** Why the target release needs the move, with its source. */
  readonly why: string;
}

/** etcd refuses a transaction of more than 128 operations by default (--max-txn-ops); each key takes two. */
const KEYS_PER_TRANSACTION = 50;
const SHOWN = 5;

interface Move {
  readonly from: string;
  readonly to: string;
  readonly value: string;
}

interface Survey {
  /** Keys still under the old prefix, with their new name. */
  readonly pending: readonly Move[];
  /** Of those, the ones whose new name holds another value. */
  readonly conflicts: readonly (Move & { readonly existing: string })[];
  /** Keys under the new prefix. */
  readonly atDestination: number;
}

async function survey(deployment: Deployment, spec: EtcdKeyMoveSpec): Promise<Survey> {
  const [old, current] = await Promise.all([deployment.etcdPrefix(spec.from), deployment.etcdPrefix(spec.to)]);
  const pending = Object.entries(old).map(([key, value]) => ({ from: key, to: spec.to + key.slice(spec.from.length), value }));
  const conflicts = pending.flatMap((m) => (current[m.to] !== undefined && current[m.to] !== m.value ? [{ ...m, existing: current[m.to]! }] : []));
  return { pending, conflicts, atDestination: Object.keys(current).length };
}

const listed = (moves: readonly Move[]): string => {
  const shown = moves.slice(0, SHOWN).map((m) => `${m.from} → ${m.to}`);
  return moves.length > SHOWN ? `${shown.join(', ')} and ${moves.length - SHOWN} more` : shown.join(', ');
};

function conflictFinding(spec: EtcdKeyMoveSpec, conflicts: Survey['conflicts']): Finding {
  const each = conflicts
    .slice(0, SHOWN)
    .map((c) => `${c.to} holds ${JSON.stringify(c.existing)}, ${c.from} holds ${JSON.stringify(c.value)}`)
    .join('; ');
  return failed(
    `${conflicts.length} key(s) under ${spec.from} have a different value at their new name under ${spec.to}: ${each}. Keep the value the new release should read under ${spec.to} and delete the old key (etcdctl del), then run again`,
  );
}

export function etcdKeyMove(spec: EtcdKeyMoveSpec): Step {
  return {
    id: spec.id,
    title: spec.title,
    kind: 'change',
    action: `Moves every etcd key under ${spec.from} to the same name under ${spec.to}, one transaction per batch, never overwriting a different value.`,
    servers: ['etcd'],

    async preflight({ deployment }) {
      const found = await survey(deployment, spec);
      if (found.conflicts.length > 0) return [conflictFinding(spec, found.conflicts)];
      if (found.pending.length === 0) return [ok(`nothing under ${spec.from}: nothing to move (${found.atDestination} key(s) under ${spec.to}); ${spec.why}`)];
      return [ok(`${found.pending.length} key(s) will move from ${spec.from} to ${spec.to}: ${listed(found.pending)}; ${spec.why}`)];
    },

    async dryRun({ deployment }) {
      const found = await survey(deployment, spec);
      if (found.conflicts.length > 0) return [conflictFinding(spec, found.conflicts)];
      return [found.pending.length === 0 ? ok(`nothing under ${spec.from}: nothing to move`) : ok(`would move ${found.pending.length} key(s): ${listed(found.pending)}`)];
    },

    async backup({ deployment }) {
      const [old, current] = await Promise.all([deployment.etcdPrefix(spec.from), deployment.etcdPrefix(spec.to)]);
      if (Object.keys(old).length === 0) return undefined;
      return { name: `etcd-${spec.id}.json`, content: JSON.stringify({ [spec.from]: old, [spec.to]: current }, null, 2) };
    },

    async pending({ deployment }) {
      return (await survey(deployment, spec)).pending.length > 0;
    },

    async apply({ deployment }) {
      const found = await survey(deployment, spec);
      if (found.conflicts.length > 0) return conflictFinding(spec, found.conflicts);
      if (found.pending.length === 0) return ok(`nothing left under ${spec.from}`);
      const etcd = deployment.etcd;
      for (let i = 0; i < found.pending.length; i += KEYS_PER_TRANSACTION) {
        const batch = found.pending.slice(i, i + KEYS_PER_TRANSACTION);
        const [first, ...rest] = batch;
        let txn = etcd.if(first!.from, 'Value', '==', first!.value);
        for (const move of rest) txn = txn.and(move.from, 'Value', '==', move.value);
        const result = await deployment.bounded('etcd', txn.then(...batch.flatMap((m) => [etcd.put(m.to).value(m.value), etcd.delete().key(m.from)])).commit());
        if (!result.succeeded) {
          return failed(`a key under ${spec.from} changed while it was being moved (is a manager running?); ${i} of ${found.pending.length} moved, run again to move the rest`);
        }
      }
      return changed(`moved ${found.pending.length} key(s) from ${spec.from} to ${spec.to}: ${listed(found.pending)}`);
    },

    async verify({ deployment }) {
      const found = await survey(deployment, spec);
      return [
        found.pending.length === 0
          ? ok(`nothing is left under ${spec.from}; ${found.atDestination} key(s) under ${spec.to}`)
          : failed(`${found.pending.length} key(s) are still under ${spec.from}: ${listed(found.pending)}`),
      ];
    },
  };
}
