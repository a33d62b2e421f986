/**
 * Packages that cannot run revisions of their own graph: `alembic upgrade` with them stops inside
 * those revisions. A database that still has to run one must be upgraded with another package, so
 * no plan may hand such a package revisions it cannot run (plan.ts asks before a hop is planned).
 */
import { publishedRelease } from './manager-python.js';

export interface PackageBreakage {
  /** The revisions these packages cannot run. */
  readonly revisions: readonly string[];
  /** The releases (their packages from PyPI) that cannot run them. */
  readonly releases: readonly string[];
  /** What `alembic upgrade` prints when it stops. */
  readonly error: string;
  /** The releases that can run them again. */
  readonly fixedIn: string;
  readonly source: string;
}

export const PACKAGE_BREAKAGES: readonly PackageBreakage[] = [
  {
    // 09206ac04fd3 creates the global scope roles (25.16.0); 2c9000848b6e and e3fb172166dc back-fill
    // user system roles and project member roles (26.4.0). Each inserts through the role model of the
    // package it runs in, which from backend.ai#12537 maps a status column the revision's insert leaves out.
    revisions: ['09206ac04fd3', '2c9000848b6e', 'e3fb172166dc'],
    releases: ['26.4.8', '26.4.9', '26.8.0', '26.8.1'],
    error: 'sqlalchemy.exc.CompileError: Unconsumed column names: status',
    fixedIn: '26.4.10, and the 26.8 branch after 26.8.1',
    source: 'backend.ai#13695 (BA-7323), fixing the regression backend.ai#12537 brought into 26.4.8 and 26.8.0',
  },
];

export interface CannotRun {
  readonly release: string;
  readonly revisions: readonly string[];
  readonly breakage: PackageBreakage;
}

/**
 * The revisions among `revisions` that the package a venv for `release` installs cannot run, with
 * why; empty when it runs them all.
 */
export function cannotRun(release: string, revisions: Iterable<string>): CannotRun[] {
  const installed = publishedRelease(release);
  const wanted = new Set(revisions);
  return PACKAGE_BREAKAGES.filter((b) => b.releases.includes(installed))
    .map((breakage) => ({ release: installed, revisions: breakage.revisions.filter((r) => wanted.has(r)), breakage }))
    .filter((found) => found.revisions.length > 0);
}

/** For messages: what the package cannot run, why, and what to do instead. */
export function describeCannotRun(found: CannotRun): string {
  const { breakage } = found;
  return `backend.ai-manager ${found.release} cannot run revision(s) ${found.revisions.join(', ')} (alembic stops with ${breakage.error}; ${breakage.source}); upgrade the database past them with another release first (fixed in ${breakage.fixedIn})`;
}
