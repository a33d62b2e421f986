/**
 * The real `backend.ai mgr clear-history` of backend.ai-manager 22.09.23 for the benchmark: its venv
 * from the test bed (made once, kept under /var/cache/bai-migrate), run in its CPython 3.11 image on
 * the deployment's own manager.toml. 22.09.23 is the newest release whose clear-history deletes
 * what bai-migrate's own mode deletes (kernels and their Redis stat keys) and whose manager can
 * read the test bed's Debian server_version (src/releases/line-facts.ts).
 */
import { dirname } from 'node:path';
import type { TestDeployment } from '../__tests__/support/deployment.js';
import { ensureRealManagerVenv, MANAGER_TOML_LOGGING, MANAGER_TOML_MANAGER, runManagerCliInContainer } from '../__tests__/support/real-manager.js';

export const REAL_CLEAR_HISTORY_RELEASE = '22.09.23';

export async function realManagerClearHistory(deployment: TestDeployment, retention: string): Promise<void> {
  const venv = await ensureRealManagerVenv(REAL_CLEAR_HISTORY_RELEASE);
  // The manager reads sections bai-migrate's tests do not write, and at most one process per core.
  const toml = deployment.writeManagerToml(MANAGER_TOML_LOGGING, { manager: MANAGER_TOML_MANAGER });
  await runManagerCliInContainer(venv, { dir: dirname(toml), managerToml: toml, alembicIni: '' }, ['mgr', 'clear-history', '-r', retention]);
}
