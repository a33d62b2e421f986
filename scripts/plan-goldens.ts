// Writes the golden file of each hop's plan (__tests__/golden/plan/<from>-<to>.txt), which
// __tests__/unit/plan-golden.test.ts checks: run it after an intended change, then review the diff.
//
//   npm run goldens
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PLAN_GOLDEN_DIR, PLAN_GOLDENS, renderPlanGolden } from '../__tests__/support/plan-golden.js';

mkdirSync(PLAN_GOLDEN_DIR, { recursive: true });
const wanted = new Set(PLAN_GOLDENS.map((g) => g.file));
for (const stale of readdirSync(PLAN_GOLDEN_DIR).filter((f) => !wanted.has(f))) rmSync(join(PLAN_GOLDEN_DIR, stale));
for (const { from, to, file } of PLAN_GOLDENS) {
  writeFileSync(join(PLAN_GOLDEN_DIR, file), await renderPlanGolden(from, to));
  console.log(`wrote ${join('__tests__/golden/plan', file)}`);
}
