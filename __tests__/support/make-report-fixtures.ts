/**
 * Makes __tests__/fixtures/reports/*.json, the engine's real reports that the adapter unit tests
 * feed to the Action and the CLI: a 21.09 → 22.03 migration, its dry run, a preflight that
 * fails, and one refused for a manager-config that is not there, each of a freshly seeded deployment on the test bed. Each file holds the report and what
 * the engine told its logger on the way, with times, temporary paths and the deployment's random
 * names normalised so that a re-run changes only what the engine changed.
 *   bash scripts/testbed.sh && node scripts/run-ts.mjs __tests__/support/make-report-fixtures.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDeployment, migrateInputs, withTestbed } from './deployment.js';
import { runEngine } from './run.js';
import type { Logger } from '../../src/core/logger.js';
import type { LogEvent, ReportFixture } from './report-fixtures.js';

class RecordingLogger implements Logger {
  readonly events: LogEvent[] = [];
  readonly lines: string[] = [];
  info(message: string): void {
    this.events.push({ kind: 'info', message });
  }
  warning(message: string, title?: string): void {
    this.events.push({ kind: 'warning', message, ...(title === undefined ? {} : { title }) });
  }
  error(message: string, title?: string): void {
    this.events.push({ kind: 'error', message, ...(title === undefined ? {} : { title }) });
  }
  debug(message: string): void {
    this.events.push({ kind: 'debug', message });
  }
  async group<T>(name: string, body: () => Promise<T>): Promise<T> {
    this.events.push({ kind: 'group', name });
    try {
      return await body();
    } finally {
      this.events.push({ kind: 'group-end', name });
    }
  }
}

// From the repository root, as the other scripts run (run-ts.mjs bundles this file elsewhere).
const OUT = join(process.cwd(), '__tests__/fixtures/reports');

/** Stable text for what differs from run to run: ISO times, temporary paths, the deployment's names and servers. */
function normalise(text: string, names: { database: string; namespace: string; ports: string[] }): string {
  let out = text
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, '2026-01-01T00:00:00.000Z')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z/g, '2026-01-01T00-00-00-000Z')
    .replace(/\/tmp\/bai-migrate-([a-z]+)-[A-Za-z0-9]{6}/g, '/tmp/bai-migrate-$1')
    .replace(/manager-[0-9a-f]{6}\.toml/g, 'manager.toml')
    .replaceAll(names.database, 'bai_fixture')
    .replaceAll(names.namespace, 'ns-fixture');
  for (const port of names.ports) out = out.replaceAll(`:${port}`, ':PORT');
  // Seeded rows' random ids (sessions, images), numbered in the order they first appear.
  const ids = new Map<string, string>();
  return out.replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, (id) => {
    if (!ids.has(id)) ids.set(id, `00000000-0000-4000-8000-${String(ids.size + 1).padStart(12, '0')}`);
    return ids.get(id)!;
  });
}

await withTestbed(async (info, admin) => {
  const ports = [info.postgres.port, info.redis.port, info.etcd.port].map(String);
  const cases: Array<{ file: string; seed: Parameters<typeof createDeployment>[2]; inputs: (toml: string) => Record<string, string> }> = [
    { file: 'migrate.json', seed: {}, inputs: (toml) => migrateInputs(toml) },
    { file: 'dry-run.json', seed: {}, inputs: (toml) => migrateInputs(toml, { 'dry-run': 'true' }) },
    // A manager registered, live sessions, no registry, a lock backend 22.03 lacks.
    {
      file: 'failed-preflight.json',
      seed: { managersRegistered: ['i-manager-1'], liveKernels: 2, registries: false },
      inputs: (toml) => {
        const { 'backup-dir': _unused, ...inputs } = migrateInputs(toml, { 'lock-backend': 'redlock' });
        return { ...inputs, command: 'preflight' };
      },
    },
    // An input only the engine can judge (the file is not there): the CLI's exit code 2 from a report.
    { file: 'missing-manager-config.json', seed: {}, inputs: () => ({ ...migrateInputs('/nonexistent/manager.toml'), command: 'preflight' }) },
  ];
  for (const c of cases) {
    const deployment = await createDeployment(admin, info, c.seed);
    try {
      const { report, log, secrets } = await runEngine(c.inputs(deployment.writeManagerToml()), new RecordingLogger());
      const fixture: ReportFixture = { report, log: log.events, secrets: secrets.length };
      const text = normalise(JSON.stringify(fixture, null, 2), { database: deployment.database, namespace: deployment.namespace, ports });
      writeFileSync(join(OUT, c.file), `${text}\n`);
      console.log(`${c.file}: ${report.command}${report.dryRun ? ' (dry run)' : ''} ${report.outcome}, ${report.entries.length} rows, ${log.events.length} log calls`);
    } finally {
      await deployment.close();
    }
  }
});
