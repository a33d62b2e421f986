/**
 * What to fix when a change step failed inside an alembic revision: the revision, the cause and
 * the rows (manager/revision-failure.ts), and whether a preflight step checks that revision's
 * hazard (hops/guards.ts) and how it went in this run. A revision that failed although its check
 * passed is a gap in preflight, to be reported; one no check covers says so.
 */
import type { Report, RevisionFailure, Status, StepFailure } from '../core/report/index.js';
import { revisionGuard } from '../hops/guards.js';

const AGAIN = 'run migrate again: finished steps are recognised and skipped';

/** The failure of `step` of `hop` in `report`'s run, with its remedy. */
export function stepFailure(report: Report, hop: string | undefined, step: string, failure: RevisionFailure): StepFailure {
  const revision = failure.revision;
  // A lost connection or a cancelled statement says nothing of the revision's data: no check would have predicted it.
  if (revision && connectionCause(failure)) {
    return { ...(hop && { hop }), step, ...failure, remedy: `${revision} did not finish for a reason outside its data (the cause above): fix that and ${AGAIN}.` };
  }
  const guard = revision ? revisionGuard(revision, hop) : undefined;
  const preflight = guard && { hop: guard.hop, step: guard.step, hazard: guard.hazard, ...preflightOutcome(report, guard.hop, guard.step) };
  const rows = failure.rows.length > 0 ? ` (${failure.rows.map((r) => `${r.table ? `${r.table} ` : ''}${r.key}`).join('; ')})` : '';
  let remedy: string;
  if (!revision) remedy = `Fix the cause above and ${AGAIN}.`;
  else if (preflight && (preflight.status === 'ok' || preflight.status === 'warning' || preflight.status === 'changed')) {
    remedy =
      `Preflight's ${preflight.step} check (${preflight.hop}) looks for what ${revision} stops on (${preflight.hazard}) and passed: preflight did not predict this. ` +
      `Please report it to bai-migrate's maintainers with the revision ${revision}, the cause, constraint and DETAIL above, the ${preflight.step} preflight row and the releases of the run (all in the report file; no rows beyond the DETAIL's key). ` +
      `Then fix the rows named above${rows} and ${AGAIN}.`;
  } else if (preflight) {
    remedy = `Preflight's ${preflight.step} check (${preflight.hop}) looks for what ${revision} stops on (${preflight.hazard}) but did not pass in this run (${preflight.status}${preflight.detail ? `: ${preflight.detail}` : ''}): run preflight so that it checks, fix what it names, and ${AGAIN}.`;
  } else {
    remedy = `No preflight check of bai-migrate looks for what ${revision} stops on: fix the rows named above${rows} and ${AGAIN}. If they look valid for this release, report it to bai-migrate's maintainers with the revision and the cause, constraint and DETAIL above.`;
  }
  return { ...(hop && { hop }), step, ...failure, ...(preflight && { preflight }), remedy };
}

/** How `step`'s preflight went: its worst finding (a migrate that ran has no failed one), or "not run". */
function preflightOutcome(report: Report, hop: string, step: string): { status: Status | 'not run'; detail?: string } {
  const rows = report.entries.filter((e) => e.phase === 'preflight' && e.step === step && (e.hop === undefined || e.hop === hop));
  const order: Status[] = ['failed', 'warning', 'changed', 'ok', 'skipped'];
  const worst = rows.sort((a, b) => order.indexOf(a.status) - order.indexOf(b.status))[0];
  if (!worst) return { status: 'not run' };
  return { status: worst.status, ...(worst.status !== 'ok' && { detail: worst.detail }) };
}

/** The driver or SQLAlchemy lost the server or cancelled the statement: OperationalError, InterfaceError, ConnectionDoesNotExistError, QueryCanceled, AdminShutdown… */
function connectionCause(failure: RevisionFailure): boolean {
  const classes = `${failure.cause?.exception ?? ''} ${failure.cause?.driverException ?? ''}`;
  return /Operational|Interface|Connection|Shutdown|Timeout|Cancel/.test(classes);
}
