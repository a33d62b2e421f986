/**
 * Golden files of `plan`, one per hop (__tests__/golden/plan/<from>-<to>.txt): what `plan` prints
 * for that hop alone, offline (from-version, no database). A new hop, or a changed step, shows its
 * plan in one diff. Written by scripts/plan-goldens.ts (npm run goldens), checked by
 * __tests__/unit/plan-golden.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOPS } from '../../src/hops/index.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { parseOptions } from '../../src/options/index.js';
import { renderText } from '../../src/core/report/index.js';
import { runCommand } from '../../src/commands/run-command.js';

// From the repository's root, where vitest and scripts/run-ts.mjs (whose bundle lives elsewhere) run.
export const PLAN_GOLDEN_DIR = join(process.cwd(), '__tests__', 'golden', 'plan');

/** Every hop bai-migrate takes, with its golden file's name. */
export const PLAN_GOLDENS = HOPS.map((hop) => ({ from: hop.from, to: hop.to, file: `${hop.from}-${hop.to}.txt` }));

/** The text `bai-migrate plan --from-version <from> --to-version <to>` prints on stdout with --json off and the log's counts left out. */
export async function renderPlanGolden(from: string, to: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bai-migrate-plan-golden-'));
  try {
    const options = parseOptions({ command: 'plan', 'from-version': from, 'to-version': to, 'report-file': join(dir, 'report.json') });
    const report = await runCommand(options, { log: new MemoryLogger(), onSecret: () => undefined, env: {} });
    return renderText(report);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
