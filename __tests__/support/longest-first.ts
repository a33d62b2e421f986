/**
 * The order integration files start in: the longest first, so that two workers end together. A
 * fresh clone has no timings of an earlier run, and vitest then starts the largest files first;
 * a short file can run for minutes (hop-contract) and end the run alone. The seconds are measured
 * (a clean clone's `.ci/run`, 2 cores, file durations from .tmp/vitest.json); only their order
 * matters. Files not listed follow in vitest's own order.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const MEASURED_SECONDS: Readonly<Record<string, number>> = {
  '__tests__/integration/real-2412-253.test.ts': 1665,
  '__tests__/integration/real-hop.test.ts': 902,
  '__tests__/integration/hop-contract.test.ts': 416,
  '__tests__/integration/rehearsal-parity.test.ts': 372,
  '__tests__/integration/real-2203.test.ts': 270,
  '__tests__/integration/long-lived-2303-preflight.test.ts': 187,
  '__tests__/integration/real-2604-patch.test.ts': 150,
  '__tests__/integration/clear-history-eras.test.ts': 145,
  '__tests__/integration/clear-history-sweep.test.ts': 130,
  '__tests__/integration/manager-venvs.test.ts': 142,
  '__tests__/integration/rehearse.test.ts': 107,
  '__tests__/integration/manager-venv.test.ts': 101,
  '__tests__/integration/manager-starts.test.ts': 91,
  '__tests__/integration/faults.test.ts': 90,
  '__tests__/integration/merged-config-2508.test.ts': 85,
  '__tests__/integration/bad-inputs.test.ts': 74,
  '__tests__/integration/migrate.test.ts': 62,
};

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const seconds = (spec: TestSpecification) => MEASURED_SECONDS[relative(spec.project.config.root, spec.moduleId)] ?? -1;
    // Within each project, in the order vitest runs the projects.
    const projects = [...new Set(sorted.map((spec) => spec.project))];
    return projects.flatMap((project) => {
      const own = sorted.filter((spec) => spec.project === project);
      const known = own.filter((spec) => seconds(spec) >= 0).sort((a, b) => seconds(b) - seconds(a));
      return [...known, ...own.filter((spec) => seconds(spec) < 0)];
    });
  }
}
