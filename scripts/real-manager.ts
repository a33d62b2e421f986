/**
 * Builds (or reuses) the real backend.ai-manager venvs the integration tests run, in the
 * interpreter images of scripts/pythons.sh, under /var/cache/bai-migrate/venvs (never in the
 * repository). `npm test` runs it first so that a cold machine pays the pip builds once, here.
 *
 *   node scripts/run-ts.mjs scripts/real-manager.ts [RELEASE...]   (default: 21.03.32 21.09.9 22.09.23 23.03.12)
 */
import { ensureRealManagerVenv } from '../__tests__/support/real-manager.js';

const releases = process.argv.slice(2);
for (const release of releases.length > 0 ? releases : ['21.03.32', '21.09.9', '22.09.23', '23.03.12']) {
  const venv = await ensureRealManagerVenv(release);
  console.log(`[real-manager] ${venv.requirement} on ${venv.image}: ${venv.built ? 'built' : 'reused'} ${venv.dir} in ${venv.seconds.toFixed(0)}s`);
}
