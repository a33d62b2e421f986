/**
 * The manager venvs of one run, one per release, each made (or found) at most once: the target
 * release's alembic and CLI serve every hop, and a hop whose schema downgrades first also needs
 * the source release's alembic, which only that release's package has.
 *
 * make (preflight, migrate, rehearse, clear-history mode: manager): a missing venv is restored from
 * the cache the adapter offers, else made with uv or pip (manager/uv.ts), and a venv it had to make is saved there.
 * check (dry runs): only a venv an earlier run made is used; for one that is not there, the run
 * says preflight or migrate will make it, and nothing is made or cached.
 */
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ManagerVenvOptions } from '../options/index.js';
import type { ReportEntry } from '../core/report/index.js';
import { chooseInterpreter, inspectManagerVenv, provisionManagerVenv, pythonVersion, releaseVenvDir, requireManagerRelease, venvCacheKey, type ProvisionedVenv } from './venv.js';

/** Where venvs outlive the runner (the Actions cache); the CLI has none. */
export interface VenvCache {
  /** Puts the folder saved under key back at dir; false when there is none. */
  restore(dir: string, key: string): Promise<boolean>;
  save(dir: string, key: string): Promise<void>;
}

export type VenvMode = 'make' | 'check';

/** What a venv is for: said when it is made or reused, and when a check cannot look at it. */
export interface VenvPurpose {
  /** "alembic runs from it" */
  readonly use: string;
  /** "alembic and the manager's CLI from it are not checked": what a check leaves open when the venv is not there. */
  readonly unchecked: string;
}

/** A venv the run used, for the report. */
export interface VenvUsed {
  readonly release: string;
  readonly dir: string;
  readonly requirement: string;
  readonly created: boolean;
  readonly cacheKey?: string;
  /** How long getting it took: making it, restoring it from the cache, or proving an earlier one. */
  readonly ms: number;
}

export class ManagerVenvs {
  private readonly venvs = new Map<string, Promise<ProvisionedVenv | undefined>>();
  readonly used: VenvUsed[] = [];

  constructor(
    readonly options: ManagerVenvOptions,
    readonly mode: VenvMode,
    private readonly log: Logger,
    private readonly record: (entry: ReportEntry) => void,
    private readonly cache?: VenvCache,
  ) {}

  /** Where the release's venv is or will be. */
  dirFor(version: string): string {
    return releaseVenvDir(this.options.dir, version);
  }

  /**
   * The release's venv, proved to hold that release; undefined in check mode when no earlier run
   * made it (a warning in the report says migrate will).
   */
  get(version: string, purpose: VenvPurpose): Promise<ProvisionedVenv | undefined> {
    let venv = this.venvs.get(version);
    if (!venv) {
      venv = this.mode === 'make' ? this.make(version, purpose) : this.find(version, purpose);
      this.venvs.set(version, venv);
    }
    return venv;
  }

  /** The venvs this run got, and how long they took together (before the lock: not downtime). */
  summary(): { made: number; reused: number; ms: number } {
    return { made: this.used.filter((u) => u.created).length, reused: this.used.filter((u) => !u.created).length, ms: this.used.reduce((sum, u) => sum + u.ms, 0) };
  }

  private async make(version: string, purpose: VenvPurpose): Promise<ProvisionedVenv> {
    const started = performance.now();
    const dir = this.dirFor(version);
    const cacheKey = this.cache ? await this.cacheKey(version) : undefined;
    if (this.cache && cacheKey && (await inspectManagerVenv(this.options, version)).state === 'absent') {
      const hit = await this.cache.restore(dir, cacheKey).catch((error: unknown) => {
        this.log.warning(`manager venv ${dir}: restoring it from the cache failed (${messageOf(error)}); it is made instead`);
        return false;
      });
      this.log.info(`manager venv cache key: ${cacheKey}${hit ? '' : ' (not cached yet)'}`);
    }
    const venv = await this.log.group(`Manager venv ${version}`, () => provisionManagerVenv(this.options, version, this.log));
    await this.prove(venv, version);
    if (venv.created && this.cache && cacheKey) {
      await this.cache.save(dir, cacheKey).catch((error: unknown) => this.log.warning(`manager venv ${dir}: saving it in the cache failed (${messageOf(error)}); the next run makes it again`));
    }
    const ms = performance.now() - started;
    this.used.push({ release: version, dir, requirement: venv.requirement, created: venv.created, ...(cacheKey ? { cacheKey } : {}), ms });
    this.record({ phase: 'setup', step: 'manager-venv', status: venv.created ? 'changed' : 'ok', detail: `${venv.created ? 'made' : 'reused'} ${dir} with ${venv.requirement}; ${purpose.use}` });
    return venv;
  }

  private async find(version: string, purpose: VenvPurpose): Promise<ProvisionedVenv | undefined> {
    const started = performance.now();
    const found = await inspectManagerVenv(this.options, version);
    const dir = this.dirFor(version);
    if (found.state !== 'ready') {
      const holds = found.state === 'stale' ? `holds ${found.holds}, so preflight or migrate will replace it with` : 'holds no venv yet; preflight or migrate will make it with';
      const detail = `${dir} ${holds} ${found.requirement} (with uv where it can, else pip); a dry run makes and caches no venv, so ${purpose.unchecked} (run preflight first to check them)`;
      this.record({ phase: 'setup', step: 'manager-venv', status: 'warning', detail });
      this.log.warning(`manager-venv: ${detail}`);
      return undefined;
    }
    await this.prove(found.venv, version);
    this.used.push({ release: version, dir, requirement: found.venv.requirement, created: false, ms: performance.now() - started });
    this.record({ phase: 'setup', step: 'manager-venv', status: 'ok', detail: `reused ${dir} with ${found.venv.requirement}; ${purpose.use}` });
    return found.venv;
  }

  private async prove(venv: ProvisionedVenv, version: string): Promise<void> {
    await requireManagerRelease(venv, version).catch((error: unknown) => {
      this.record({ phase: 'setup', step: 'manager-venv', status: 'failed', detail: messageOf(error) });
      throw error;
    });
  }

  /** Release, Python and OS: a venv only works with the Python that made it. */
  private async cacheKey(version: string): Promise<string | undefined> {
    try {
      const { python } = await chooseInterpreter(this.options.python, version);
      return venvCacheKey(`backend.ai-manager==${version}`, await pythonVersion(python));
    } catch {
      // No interpreter fits: provisioning says so with the full reason.
      return undefined;
    }
  }
}
