/**
 * The one place a run's finding is recorded and printed (Session.record): apart from the session
 * because it is the only part that masks secrets and decides how a finding shows in the log.
 */
import type { Logger } from '../core/logger.js';
import { redact, type Report, type ReportEntry } from '../core/report/index.js';
import type { Finding } from '../steps/step.js';

export class Findings {
  /** Warnings already annotated: verify finding what preflight found is said again in the log, not annotated twice. */
  private readonly warned = new Set<string>();

  constructor(
    private readonly report: Report,
    private readonly secrets: ReadonlySet<string>,
    private readonly log: Logger,
  ) {}

  /** Adds a finding to the report and prints it: the one place a finding is printed (and annotated, in the Action). */
  record(entry: ReportEntry, finding?: Finding): void {
    this.report.entries.push({ ...entry, detail: redact(entry.detail, this.secrets) });
    if (finding?.attachment) {
      this.report.attachments.push({ step: entry.step, name: finding.attachment.name, content: redact(finding.attachment.content, this.secrets) });
    }
    // Errors and summaries only count findings; the lines below are the only ones that show them.
    const line = `${entry.hop ? `${entry.hop} ` : ''}${entry.step}: ${entry.detail}`;
    const title = `bai-migrate ${entry.phase}: ${entry.step}`;
    if (entry.status === 'failed') this.log.error(line, title);
    else if (entry.status === 'warning' && this.warned.has(line)) this.log.info(`warning (as in an earlier phase): ${line}`);
    else if (entry.status === 'warning') {
      this.warned.add(line);
      this.log.warning(line, title);
    } else if (entry.phase !== 'plan') this.log.info(`${entry.status}: ${line}`);
  }

  /** `value` with every secret masked in each of its strings. */
  redacted<T>(value: T): T {
    return JSON.parse(JSON.stringify(value), (_key, v: unknown) => (typeof v === 'string' ? redact(v, this.secrets) : v)) as T;
  }
}
