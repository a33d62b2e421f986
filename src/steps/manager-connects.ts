/**
 * A step kind: whether the manager of the hop's release can connect to this PostgreSQL at all.
 * Some releases cannot read a `server_version` with a distribution's suffix and fail at start
 * (src/releases/line-facts.ts, managerFailsOnServerVersion). The schema migrates all the same, so
 * this is a warning for the release the run ends at, whose manager the operator starts next, and
 * only a remark for a release the run passes through, whose manager never runs.
 */
import { managerFailsOnServerVersion } from '../releases/line-facts.js';
import { targetRelease } from '../releases/catalogue.js';
import { cannotConnect } from '../manager/cli.js';
import { serverVersion } from '../stores/schema.js';
import { ok, warning, type Step } from './step.js';

/** Why the manager of `version` cannot connect, for a message; undefined when it can. */
export function unreadableServerVersion(version: string, reported: string): string | undefined {
  return managerFailsOnServerVersion(version, reported) ? cannotConnect(`the ${version} manager`, reported) : undefined;
}

export const managerConnects: Step = {
  id: 'manager-connects',
  title: 'Manager can connect',
  kind: 'check',
  action: "Checks that the target release's manager can read this PostgreSQL's server_version, which some releases fail on at start.",
  servers: ['postgres'],

  async preflight(ctx) {
    const release = ctx.hop.to.version;
    const reported = await serverVersion(ctx.deployment.postgres);
    const problem = unreadableServerVersion(release, reported);
    if (!problem) return [ok(`the ${release} manager reads server_version "${reported}"`)];
    const final = ctx.settings.toVersion !== undefined && targetRelease(ctx.settings.toVersion).version === release;
    if (!final) return [ok(`${problem}; the run only passes through ${release}, whose manager does not run`)];
    return [
      warning(`${problem}. The migration itself works, but the manager will not start: choose a to-version with the fix, or a PostgreSQL build that reports a bare version (e.g. the Alpine image)`),
    ];
  },
};
