/**
 * With manager-venv, the manager's tools each hop runs from its own release's venv: its target
 * line's (prepareHops) and, for a downgrade or the drift check, its source line's. Apart from the
 * session because only a run with manager-venv has them, and they are made (slowly) before the run.
 */
import type { Logger } from '../core/logger.js';
import type { AlembicSetup } from '../manager/alembic.js';
import type { ManagerCli } from '../manager/cli.js';
import type { ManagerVenvs } from '../manager/venvs.js';
import type { ProvisionedVenv } from '../manager/venv.js';
import { latestRelease } from '../releases/releases.js';
import { publishedRelease } from '../releases/manager-python.js';
import type { Hop } from '../steps/step.js';

/** The manager's tools a hop runs: its target release's alembic and CLI. */
export interface HopTools {
  readonly alembic: AlembicSetup;
  readonly managerCli: ManagerCli;
}

export class HopVenvs {
  /** The tools of each hop whose target is not the run's (prepare). */
  private readonly hopTools = new Map<string, HopTools>();

  constructor(
    private readonly venvs: ManagerVenvs,
    private readonly alembicLockTimeoutSeconds: number,
    /** manager.toml, as the manager's CLI is handed it. */
    private readonly managerConfig: string | undefined,
    private readonly log: Logger,
  ) {}

  /**
   * Each hop runs with its own target line's final release: its scripts (a revision imports the
   * manager's code of the package it runs in) and its Python (one venv cannot serve 3.11 and 3.13
   * lines). A hop whose target is not the run's gets that release's venv; the run's own target
   * comes from the venv made before the run (run-command.ts).
   */
  async prepare(hops: readonly Hop[], runTarget: string): Promise<void> {
    for (const hop of hops) {
      if (hop.to.version === runTarget || this.hopTools.has(hop.label)) continue;
      const venv = await this.venvs.get(publishedRelease(hop.to.version), {
        use: `${hop.to.line}'s alembic and CLI run from it for ${hop.label}`,
        unchecked: `${hop.to.line}'s alembic and CLI from it are not checked`,
      });
      if (!venv) continue;
      this.hopTools.set(hop.label, {
        alembic: this.alembicOf(venv),
        managerCli: { command: [venv.managerCli], configFile: this.managerConfig, log: this.log },
      });
    }
  }

  /** The hop's own tools, when its target is not the run's; undefined: the run's. */
  toolsOf(hop: Hop): HopTools | undefined {
    return this.hopTools.get(hop.label);
  }

  /** The alembic of the source line's final release (the one the database was last upgraded with), from its own venv. */
  async sourceAlembic(hop: Hop, purpose: 'downgrade' | 'models' = 'downgrade'): Promise<AlembicSetup | undefined> {
    const source = publishedRelease(latestRelease(hop.fromLine).version);
    const venv = await this.venvs.get(source, {
      use:
        purpose === 'downgrade'
          ? `${hop.fromLine}'s alembic runs from it for the downgrade of ${hop.label}`
          : `${source}'s models are compared with the live schema from it (the drift check); its alembic runs nothing`,
      unchecked: `${hop.fromLine}'s alembic from it is not checked`,
    });
    return venv ? this.alembicOf(venv) : undefined;
  }

  private alembicOf(venv: ProvisionedVenv): AlembicSetup {
    return { command: venv.command, config: venv.config, lockTimeoutSeconds: this.alembicLockTimeoutSeconds, driver: venv.driver };
  }
}
