/**
 * The manager's environment for alembic, made on demand: a venv with `pip install
 * backend.ai-manager==<release>`. The manager's migration scripts import its own modules
 * (backend.ai-manager@22.03.3:src/ai/backend/manager/models/alembic/env.py), so alembic must run inside such a venv; a runner that has none gets one here,
 * and the Action caches it (keyed by release, Python and OS) so that only the first run pays.
 *
 * manager-venv is a folder of such venvs, one per release, `<manager-venv>/<release>/`: a run needs
 * the target release's, and a hop that downgrades first also the source release's (manager/venvs.ts).
 *
 * bai-migrate only ever deletes or reuses a folder that carries its marker: a venv an operator
 * made is never touched.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { homedir, tmpdir } from 'node:os';
import { invalidInput, messageOf, MigrationError } from '../core/errors.js';
import type { AlembicSetup } from './alembic.js';
import type { ManagerVenvOptions } from '../options/index.js';
import type { Logger } from '../core/logger.js';
import { runChild } from './child-env.js';
import { withVenvLock } from './venv-lock.js';
import { getUv, pipArgsForUv, pipConfig, uvCacheDir, uvCannotInstall, uvSettingsFromPip } from './uv.js';
import { managerPythonFor } from '../releases/manager-python.js';
import { alembicDriverOf } from '../releases/line-facts.js';

export const MANAGER_PACKAGE = 'backend.ai-manager';
const MARKER = '.bai-migrate-manager';
/** Marks manager-venv itself as bai-migrate's folder of venvs. */
const ROOT_MARKER = '.bai-migrate-venvs';

export interface ProvisionedVenv extends AlembicSetup {
  readonly requirement: string;
  /** The venv's backend.ai, the manager's CLI. */
  readonly managerCli: string;
  /** false when a venv this bai-migrate made earlier (or the Action's cache) already had it. */
  readonly created: boolean;
}

export function managerRequirement(version: string): string {
  return `${MANAGER_PACKAGE}==${version}`;
}

/** "3.10.12": part of the cache key, since a venv only works with the Python that made it. */
export async function pythonVersion(python: string): Promise<string> {
  const result = await run(python, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])']);
  if (result.exitCode !== 0)
    throw invalidInput(`python "${python}" cannot be run (${result.stderr.trim() || `exit ${result.exitCode}`}); accepted: a Python 3 interpreter, e.g. python3 or /usr/bin/python3.10`);
  return result.stdout.trim();
}

export function venvCacheKey(requirement: string, python: string, platform = process.platform, arch = process.arch): string {
  return `bai-migrate-venv-${platform}-${arch}-py${python}-${requirement}`;
}

/** Where the venv of one release lives inside manager-venv. */
export function releaseVenvDir(root: string, version: string): string {
  return join(resolve(root), version);
}

function venvIn(dir: string, version: string): Omit<ProvisionedVenv, 'created'> {
  return {
    command: [join(dir, 'bin', 'python'), '-m', 'alembic'],
    config: join(dir, 'bai-migrate-alembic.ini'),
    driver: alembicDriverOf(version),
    requirement: managerRequirement(version),
    managerCli: join(dir, 'bin', 'backend.ai'),
  };
}

/**
 * What manager-venv is: new or empty, bai-migrate's folder of venvs, or the single venv an earlier
 * bai-migrate made in it (the folder before it held one venv per release), which a make replaces.
 * A folder bai-migrate did not make is refused.
 */
async function inspectRoot(root: string, given: string): Promise<'ours' | 'absent' | { legacy: string }> {
  if (existsSync(join(root, ROOT_MARKER))) return 'ours';
  if (existsSync(join(root, MARKER))) return { legacy: (await readFile(join(root, MARKER), 'utf8')).trim() };
  const entries = existsSync(root) ? readdirSync(root) : [];
  // Venvs restored one by one from a cache come without the folder's marker, each with its own.
  if (entries.length > 0 && entries.every((entry) => existsSync(join(root, entry, MARKER)))) return 'ours';
  if (entries.length > 0) {
    throw invalidInput(`manager-venv "${given}" exists and was not made by bai-migrate; accepted: a new or empty folder (or point alembic-command at your own venv instead)`);
  }
  return 'absent';
}

/**
 * What manager-venv holds for `version` now, read only: a venv bai-migrate made with it (ready),
 * one it made with another release or left incomplete (stale: migrate replaces it), or nothing
 * (absent).
 */
export async function inspectManagerVenv(
  options: ManagerVenvOptions,
  version: string,
): Promise<{ state: 'ready'; venv: ProvisionedVenv } | { state: 'stale'; holds: string; requirement: string } | { state: 'absent'; requirement: string }> {
  const root = resolve(options.dir);
  const requirement = managerRequirement(version);
  const found = await inspectRoot(root, options.dir);
  if (typeof found === 'object') return { state: 'stale', holds: `${found.legacy} in the layout of an earlier bai-migrate`, requirement };
  const dir = releaseVenvDir(root, version);
  const marker = join(dir, MARKER);
  if (existsSync(marker)) {
    const holds = (await readFile(marker, 'utf8')).trim();
    if (holds === requirement && existsSync(join(dir, 'bin', 'python'))) return { state: 'ready', venv: { ...venvIn(dir, version), created: false } };
    return { state: 'stale', holds, requirement };
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw invalidInput(
      `manager-venv "${options.dir}" holds ${dir}, which bai-migrate did not make; accepted: a folder bai-migrate keeps one venv per release in (delete ${dir}, or set manager-venv to another folder)`,
    );
  }
  return { state: 'absent', requirement };
}

async function holds(dir: string, requirement: string): Promise<boolean> {
  const marker = join(dir, MARKER);
  return existsSync(marker) && existsSync(join(dir, 'bin', 'python')) && (await readFile(marker, 'utf8')).trim() === requirement;
}

export async function provisionManagerVenv(options: ManagerVenvOptions, version: string, log: Logger): Promise<ProvisionedVenv> {
  const root = resolve(options.dir);
  const dir = releaseVenvDir(root, version);
  const requirement = managerRequirement(version);
  // Read only the marker here: a venv another run is making has no marker yet, which the full
  // inspection, done holding the lock, would take for a folder bai-migrate did not make.
  if (await holds(dir, requirement)) {
    log.info(`manager venv ${dir} already has ${requirement}`);
    return { ...venvIn(dir, version), created: false };
  }
  const rootState = await inspectRoot(root, options.dir);
  if (typeof rootState === 'object') {
    // The one venv an earlier bai-migrate kept right in manager-venv (its marker says so).
    log.info(`manager-venv ${root} holds a venv of an earlier bai-migrate (${rootState.legacy}); replacing it with a folder of one venv per release`);
    await rm(root, { recursive: true, force: true });
  }
  await mkdir(root, { recursive: true });
  await writeFile(join(root, ROOT_MARKER), 'bai-migrate keeps one manager venv per release here\n');
  return withVenvLock(`${dir}.lock`, `manager venv ${dir}`, log, async () => {
    // Another run may have made it while this one waited.
    const found = await inspectManagerVenv(options, version);
    if (found.state === 'ready') {
      log.info(`manager venv ${dir} already has ${requirement} (made by another run meanwhile)`);
      return found.venv;
    }
    if (found.state === 'stale') await rm(dir, { recursive: true, force: true });
    return makeVenv(options, version, log);
  });
}

async function makeVenv(options: ManagerVenvOptions, version: string, log: Logger): Promise<ProvisionedVenv> {
  const root = resolve(options.dir);
  const dir = releaseVenvDir(root, version);
  const requirement = managerRequirement(version);
  const python = join(dir, 'bin', 'python');
  const setup = venvIn(dir, version);
  const marker = join(dir, MARKER);
  const interpreter = await chooseInterpreter(options.python, version);
  const installer = await chooseInstaller(root, version, interpreter, options, log);
  log.info(`creating manager venv ${dir} with ${interpreter.python}${interpreter.why ? ` (${interpreter.why})` : ''}, installing with ${installer.tool}`);
  const made: Made = { dir, python, marker, requirement, interpreter, options, log };
  if (installer.tool === 'uv') {
    try {
      await makeWithUv(made, installer);
    } catch (error) {
      // uv's resolver is stricter than pip's in places: pip gets its chance, and says why if it fails too.
      log.warning(`uv could not make ${dir} (${messageOf(error)}); making it with pip instead`);
      await rm(dir, { recursive: true, force: true });
      await makeWithPip(made);
    }
  } else {
    await makeWithPip(made);
  }
  // The package must hold the migration scripts, and alembic must be importable beside it.
  await step(log, 'checking the manager package', python, ['-c', 'import alembic, ai.backend.manager.models.alembic']);
  await writeFile(setup.config, ALEMBIC_INI);
  await writeFile(marker, `${requirement}\n`);
  return { ...setup, created: true };
}

interface Made {
  readonly dir: string;
  /** The venv's Python. */
  readonly python: string;
  readonly marker: string;
  readonly requirement: string;
  readonly interpreter: Interpreter;
  readonly options: ManagerVenvOptions;
  readonly log: Logger;
}

/** `python -m venv`, then `pip install` (with the release's constraints in PIP_CONSTRAINT). */
async function makeWithPip({ dir, python, marker, requirement, interpreter, options, log }: Made): Promise<void> {
  await step(log, `${interpreter.python} -m venv`, interpreter.python, ['-m', 'venv', ...(options.systemSitePackages ? ['--system-site-packages'] : []), dir]);
  // Marked as ours at once: a pip that fails leaves a folder the next run may replace.
  await writeFile(marker, `${requirement} (incomplete)\n`);
  // Constraints go through PIP_CONSTRAINT, which also reaches the environments that build sdists.
  const constraints = await writeConstraints(dir, interpreter);
  const pipEnv = constraints ? { PIP_CONSTRAINT: constraints } : undefined;
  const also = interpreter.alsoInstall ?? [];
  log.info(
    `pip install ${requirement}${also.length > 0 ? ` ${also.join(' ')}` : ''}${interpreter.pipArgs.length > 0 ? ` ${interpreter.pipArgs.join(' ')}` : ''}${pipEnv ? ` with constraints ${interpreter.constraints.join(', ')}` : ''}`,
  );
  await step(
    log,
    `pip install ${requirement}`,
    python,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', ...interpreter.pipArgs, ...options.pipArgs, requirement, ...also],
    pipEnv,
  );
}

/**
 * `uv venv`, then `uv pip install` into it: the same packages and entry points as pip's, the
 * constraints also given to the builds of sdists (--build-constraints, as PIP_CONSTRAINT reaches
 * pip's). The venv gets what `python -m venv` seeds (its ensurepip: pip, and setuptools before
 * Python 3.12, whose pkg_resources 21.09's manager imports without requiring it). Unlike pip, uv does
 * not compile every module to bytecode up front (--compile-bytecode doubles the install's time on
 * 24.03.11): Python compiles the modules alembic and the CLI import when they first run.
 */
async function makeWithUv({ dir, python, marker, requirement, interpreter, log }: Made, uv: UvInstaller): Promise<void> {
  // Run from the temporary folder: no project's pyproject.toml or uv.toml around the runner's checkout applies.
  const cwd = tmpdir();
  await step(log, 'uv venv', uv.uv, ['venv', '--no-project', '--quiet', '--python', interpreter.python, dir], uv.env, 'uv', cwd);
  await writeFile(marker, `${requirement} (incomplete)\n`);
  // What `python -m venv` seeds, from the interpreter's own wheels (no index). uv installs them in
  // well under a second; ensurepip takes 5–8 s, most of it compiling pip to bytecode.
  const seeds = await bundledSeedWheels(python);
  if (seeds.length > 0) await step(log, 'seeding pip from the interpreter', uv.uv, ['pip', 'install', '--python', python, '--no-index', '--no-deps', ...seeds], uv.env, 'uv', cwd);
  else await step(log, 'ensurepip', python, ['-m', 'ensurepip', '--upgrade', '--default-pip']);
  const constraints = await writeConstraints(dir, interpreter);
  const also = interpreter.alsoInstall ?? [];
  log.info(`uv pip install ${requirement}${also.length > 0 ? ` ${also.join(' ')}` : ''}${constraints ? ` with constraints ${interpreter.constraints.join(', ')}` : ''}`);
  await step(
    log,
    `uv pip install ${requirement}`,
    uv.uv,
    ['pip', 'install', '--python', python, ...(constraints ? ['--constraints', constraints, '--build-constraints', constraints] : []), ...uv.args, requirement, ...also],
    uv.env,
    'uv',
    cwd,
  );
}

/**
 * The wheels ensurepip would install (pip, and setuptools before Python 3.12), as the interpreter
 * ships them in ensurepip/_bundled; none when it ships none (Debian moves them elsewhere), and
 * ensurepip then does the seeding itself.
 */
async function bundledSeedWheels(python: string): Promise<string[]> {
  const found = await runChild('pip', python, ['-c', 'import ensurepip, os; print(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled"))']);
  const bundled = found.exitCode === 0 ? found.stdout.trim() : '';
  if (!bundled || !existsSync(bundled)) return [];
  return readdirSync(bundled)
    .filter((name) => name.endsWith('.whl'))
    .map((name) => join(bundled, name));
}

/** The release's constraints in the venv's bai-migrate-constraints.txt; the file, or undefined when there are none. */
async function writeConstraints(dir: string, interpreter: Interpreter): Promise<string | undefined> {
  const constraints = join(dir, 'bai-migrate-constraints.txt');
  await writeFile(constraints, interpreter.constraints.map((c) => `${c}\n`).join(''));
  return interpreter.constraints.length > 0 ? constraints : undefined;
}

interface UvInstaller {
  readonly tool: 'uv';
  readonly uv: string;
  /** pip-args in uv's spelling. */
  readonly args: readonly string[];
  /** UV_CACHE_DIR and pip's index settings in uv's names. */
  readonly env: Record<string, string>;
}

/**
 * uv when the release and pip-args allow it and uv can be had; else pip, with a log line saying why.
 */
async function chooseInstaller(root: string, version: string, interpreter: Interpreter, options: ManagerVenvOptions, log: Logger): Promise<UvInstaller | { tool: 'pip' }> {
  const pip = { tool: 'pip' } as const;
  const releaseWhy = uvCannotInstall(interpreter.pipArgs);
  if (releaseWhy) {
    log.info(`${MANAGER_PACKAGE} ${version} is installed with pip: it needs ${interpreter.pipArgs.join(' ')}, and ${releaseWhy}`);
    return pip;
  }
  if (options.systemSitePackages) {
    // uv pip install does not count the system's packages as installed: it would fetch its own copies.
    log.info(`${MANAGER_PACKAGE} ${version} is installed with pip: venv-system-site-packages is set, and uv does not use the system's packages to satisfy requirements`);
    return pip;
  }
  const args = pipArgsForUv(options.pipArgs);
  if ('unsupported' in args) {
    log.info(`${MANAGER_PACKAGE} ${version} is installed with pip: pip-args ${args.unsupported} has no uv equivalent bai-migrate knows`);
    return pip;
  }
  const got = await getUv(root, interpreter.python, args.index, log);
  if ('why' in got) {
    log.info(`uv is not available (${got.why}); ${MANAGER_PACKAGE} ${version} is installed with pip`);
    return pip;
  }
  const settings = uvSettingsFromPip(await pipConfig(interpreter.python));
  const env: Record<string, string> = { ...settings.env, UV_CACHE_DIR: uvCacheDir(root), UV_PYTHON_DOWNLOADS: 'never', UV_NO_PROGRESS: '1' };
  if (args.extraIndex && !process.env.UV_INDEX_STRATEGY) env.UV_INDEX_STRATEGY = 'unsafe-best-match';
  return { tool: 'uv', uv: got.uv, args: [...settings.args.filter((arg) => !args.uv.includes(arg)), ...args.uv], env };
}

/**
 * Proves the venv holds `version` of the manager by asking its Python, not the marker: a cache
 * restored from elsewhere or a pip run by hand may have put another release in it.
 */
export async function requireManagerRelease(venv: ProvisionedVenv, version: string): Promise<string> {
  const python = venv.command[0]!;
  const dir = resolve(python, '..', '..');
  const result = await run(python, ['-c', `import importlib.metadata as m; print(m.version(${JSON.stringify(MANAGER_PACKAGE)}))`]);
  const remedy = `delete the folder (bai-migrate made it, and migrate makes it again with ${managerRequirement(version)}) or set manager-venv to another folder`;
  if (result.exitCode !== 0) {
    const tail = result.stderr
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-2)
      .join(' | ');
    throw new MigrationError('inconsistent-state', `manager venv ${dir} holds no ${MANAGER_PACKAGE} its Python can find (${tail || `exit ${result.exitCode}`}); ${remedy}`);
  }
  const installed = result.stdout.trim();
  if (!sameRelease(installed, version)) {
    throw new MigrationError(
      'inconsistent-state',
      `manager venv ${dir} holds ${MANAGER_PACKAGE} ${installed}, but the target release is ${version}: its alembic and CLI are another release's; ${remedy}`,
    );
  }
  return installed;
}

/** pip normalizes 22.03.14 to 22.3.14: compare the numbers, not the text. */
export function sameRelease(installed: string, version: string): boolean {
  const numbers = (v: string) => (/^\d+(\.\d+)*$/.test(v) ? v.split('.').map(Number).join('.') : v);
  return numbers(installed) === numbers(version);
}

async function step(log: Logger, what: string, program: string, args: string[], env?: Record<string, string>, kind: 'pip' | 'uv' = 'pip', cwd?: string): Promise<void> {
  const result = await runChild(kind, program, args, { env, cwd, progress: { log, what } });
  if (result.exitCode !== 0) {
    const tail = `${result.stderr}\n${result.stdout}`
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-3)
      .join(' ');
    throw new MigrationError('unsupported', `provisioning the manager venv failed at ${what} (exit ${result.exitCode}): ${tail}`);
  }
}

/** python, venv and pip get the pip environment (PIP_*, proxies, CA bundles) and nothing of the run's secrets. */
function run(program: string, args: string[], env?: Record<string, string>) {
  return runChild('pip', program, args, { env });
}

/**
 * The interpreter that makes the venv: the `python` input when given, else the one the release
 * is known to install and run on (src/releases/manager-python.ts), found on PATH as pythonX.Y, among
 * pyenv's versions, or as python3; a release no available interpreter fits is refused before anything is made, naming
 * the Python it needs.
 */
export interface Interpreter {
  readonly python: string;
  readonly pipArgs: readonly string[];
  readonly constraints: readonly string[];
  /** Installed beside the manager (release data: what its dependencies import undeclared). */
  readonly alsoInstall?: readonly string[];
  readonly why?: string;
}

export async function chooseInterpreter(given: string | undefined, version: string): Promise<Interpreter> {
  const chosen = await chooseInterpreterOnly(given, version);
  const choice = managerPythonFor(version);
  return choice.fits && choice.alsoInstall.length > 0 ? { ...chosen, alsoInstall: choice.alsoInstall } : chosen;
}

async function chooseInterpreterOnly(given: string | undefined, version: string): Promise<Interpreter> {
  const choice = managerPythonFor(version);
  const constraints = choice.fits ? choice.constraints : (choice.entry?.constraints ?? []);
  const needed = choice.fits ? choice.python : /(\d+\.\d+)/.exec(choice.entry?.requiresPython ?? '')?.[1];
  if (given) {
    // Several, for a run whose hops need different Pythons: each release takes the one of its X.Y.
    const interpreters = given
      .split(',')
      .map((python) => python.trim())
      .filter((python) => python !== '');
    const versions = await Promise.all(interpreters.map(async (python) => ({ python, version: await versionOf(python) })));
    const fitting = choice.fits ? versions.find((candidate) => candidate.version?.startsWith(`${needed}.`)) : undefined;
    // The release's pip arguments (--ignore-requires-python) belong to the Python it is known to run on.
    if (choice.fits && fitting) return { python: fitting.python, pipArgs: choice.pipArgs, constraints, why: `${version} installs on Python ${needed}` };
    // One interpreter of another Python is the operator's own choice.
    if (interpreters.length === 1) return { python: interpreters[0]!, pipArgs: [], constraints };
    throw invalidInput(
      `python lists ${versions.map((candidate) => `${candidate.python} (${candidate.version ?? 'cannot be run'})`).join(', ')}, but ${MANAGER_PACKAGE} ${version} needs Python ${needed ?? 'of a release that was tried'}; accepted: one interpreter, or one per Python the run's releases need, comma-separated`,
    );
  }
  if (!needed) throw invalidInput(`no Python is known to run ${MANAGER_PACKAGE} ${version} (${choice.fits ? '' : choice.reason}); set python to the interpreter its Requires-Python names`);
  const found: string[] = [];
  for (const candidate of [`python${needed}`, ...pyenvInterpreters(needed), 'python3']) {
    const actual = await versionOf(candidate);
    if (actual === undefined) continue;
    found.push(`${candidate} is ${actual}`);
    if (actual.startsWith(`${needed}.`)) return { python: candidate, pipArgs: choice.fits ? choice.pipArgs : [], constraints, why: `${version} installs on Python ${needed}` };
  }
  const why = choice.fits ? `the Python it is known to install and run on` : choice.reason;
  throw invalidInput(
    `${MANAGER_PACKAGE} ${version} needs Python ${needed} (${why}); on PATH ${found.join(', ') || `neither python${needed} nor python3 runs`}. Set python to a Python ${needed} interpreter`,
  );
}

/** "3.11.2", or undefined when the interpreter cannot be run. */
async function versionOf(python: string): Promise<string | undefined> {
  const result = await run(python, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])']);
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

/**
 * pyenv's builds of Python X.Y, newest patch first: its shims only run the versions pyenv has
 * selected, so a python3.10 that pyenv installed but did not select is found here instead.
 */
export function pyenvInterpreters(pythonXY: string, root = process.env.PYENV_ROOT ?? join(homedir(), '.pyenv')): string[] {
  const versions = join(root, 'versions');
  if (!existsSync(versions)) return [];
  const patch = (name: string) => Number(name.slice(pythonXY.length + 1));
  return readdirSync(versions)
    .filter((name) => name.startsWith(`${pythonXY}.`) && /^\d+$/.test(name.slice(pythonXY.length + 1)))
    .sort((a, b) => patch(b) - patch(a))
    .map((name) => join(versions, name, 'bin', `python${pythonXY}`))
    .filter((path) => existsSync(path));
}

/** The manager's own alembic.ini.sample points at its scripts as a package resource (backend.ai-manager@22.03.3:alembic.ini.sample). */
const ALEMBIC_INI = `# Written by bai-migrate for the manager venv; sqlalchemy.url is set on each run.
[alembic]
script_location = ai.backend.manager.models:alembic
sqlalchemy.url =

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
`;
