/**
 * Whether the target release's manager will accept manager.toml: its own loader run on the file in
 * its venv (manager/config-load.ts), in preflight, so that a value valid for the source release but
 * refused by the target's loader stops the run before the window instead of the manager after it.
 * Keys refused only because of the runner (a path it lacks, more processes than its CPUs: the
 * manager's host may have them) are a warning, not a refusal.
 */
import { cpus } from 'node:os';
import { dependsOnHost, loadManagerConfig, type RefusedKey } from '../manager/config-load.js';
import { pythonOf } from '../manager/apply-revisions.js';
import { failed, ok, skipped, warning, type Finding, type StepContext } from './step.js';

const listKeys = (keys: readonly RefusedKey[]) => keys.map((k) => `${k.key} (${k.reason})`).join('; ');

export async function targetConfigLoads(ctx: StepContext, release: string): Promise<Finding[]> {
  const config = ctx.deployment.targets.managerConfig?.path;
  if (!config) return [skipped(`no manager.toml given (manager-config): the ${release} loader was not run on it`)];
  if (ctx.venvToMake) return [skipped(`manager.toml is loaded with ${release}'s own loader in the venv preflight or migrate makes in ${ctx.venvToMake.dir}: not here (a dry run makes no venv)`)];
  let python: string;
  try {
    python = await pythonOf(ctx.alembic);
  } catch {
    return [skipped(`manager.toml is not loaded with ${release}'s own loader: alembic-command does not say which Python runs it`)];
  }
  const loaded = await loadManagerConfig(python, config);
  switch (loaded.state) {
    case 'loads':
      return [ok(`manager.toml (${config}) loads with ${release}'s own loader`)];
    case 'no-package':
      return [skipped(`manager.toml is not loaded with ${release}'s own loader: alembic's Python (${python}) has no backend.ai-manager (${loaded.detail})`)];
    case 'no-loader':
      return [skipped(`${release} has no file-only loader (${loaded.detail}): it reads manager.toml merged with etcd, which the manager's start in a rehearsal proves`)];
    case 'failed':
      return [warning(`manager.toml (${config}) could not be checked with ${release}'s own loader: ${loaded.detail}`)];
    case 'refused': {
      const onHost = loaded.keys.filter(dependsOnHost);
      const refused = loaded.keys.filter((k) => !dependsOnHost(k));
      const findings: Finding[] = [];
      if (refused.length > 0) {
        findings.push(
          failed(
            `manager.toml (${config}) does not load with ${release}'s own loader, so the ${release} manager would not start after the migration; it refuses ${refused.length} key(s): ${listKeys(refused)}; accepted: values ${release}'s configuration accepts (fix them before the window)`,
          ),
        );
      }
      if (onHost.length > 0) {
        findings.push(
          warning(
            `manager.toml (${config}) names path(s), or leaves default path(s), or asks for more processes than this runner's ${cpus().length} CPU(s), which ${release}'s loader checks against the machine it runs on (relative paths resolved from manager.toml's folder): ${listKeys(onHost)}; the manager's host must have them`,
          ),
        );
      }
      return findings;
    }
  }
}
