/**
 * uv, the installer manager venvs are made with when bai-migrate can get it: `uv venv` and
 * `uv pip install` make the same venv as `python -m venv` and `pip install` in a fraction of the
 * time. uv comes from PyPI like everything else the venvs install: `python -m pip download` of the
 * pinned wheel (with the operator's index settings), whose `uv` binary is taken out into
 * `<manager-venv>/.uv/<version>/` and run once (`uv --version`) before it is used. Where that
 * fails (no index that has it, a platform with no wheel), where the release needs a pip argument
 * uv does not have (`--ignore-requires-python`), or where pip-args holds one uv has no equivalent
 * for, the venv is made with pip as before, and the log says why.
 *
 * uv reads none of pip's settings: pip's index settings (PIP_INDEX_URL, pip.conf's index-url, …,
 * as `pip config list` shows them) are handed to uv under uv's own names, and to uv only.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import { runChild } from './child-env.js';

/**
 * The uv bai-migrate fetches: the newest release when uv support was written, the one the
 * integration tests and the measurements in docs/manager-venv.md ran. Pinned so that every run
 * (and every cached venv) is made by the same installer; raise it deliberately, with the tests.
 */
export const UV_VERSION = '0.13.9';

/** Where bai-migrate keeps its uv (and, unless UV_CACHE_DIR says otherwise, uv's cache): beside the venvs. */
export function uvHome(root: string): string {
  return join(root, '.uv');
}

/** uv's download cache: UV_CACHE_DIR when the run has it, else `<manager-venv>/.uv/cache`. */
export function uvCacheDir(root: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.UV_CACHE_DIR || join(uvHome(root), 'cache');
}

/** The release's pip arguments uv has no equivalent for, each with why (the release then keeps pip). */
const RELEASE_ARGS_UV_LACKS: Readonly<Record<string, string>> = {
  '--ignore-requires-python': 'uv has no --ignore-requires-python (it always enforces Requires-Python)',
};

/** Why a release's pip arguments keep pip, or undefined when uv can install it. */
export function uvCannotInstall(releasePipArgs: readonly string[]): string | undefined {
  const lacking = releasePipArgs.filter((arg) => arg in RELEASE_ARGS_UV_LACKS);
  return lacking.length > 0 ? lacking.map((arg) => RELEASE_ARGS_UV_LACKS[arg]).join('; ') : undefined;
}

/** pip-args uv understands, with uv's spelling; `value`: the option takes the next argument. */
const PIP_ARGS_FOR_UV: Readonly<Record<string, { uv: readonly string[]; value: boolean }>> = {
  '--no-index': { uv: ['--no-index'], value: false },
  '--index-url': { uv: ['--index-url'], value: true },
  '-i': { uv: ['--index-url'], value: true },
  '--extra-index-url': { uv: ['--extra-index-url'], value: true },
  '--find-links': { uv: ['--find-links'], value: true },
  '-f': { uv: ['--find-links'], value: true },
  '--trusted-host': { uv: ['--allow-insecure-host'], value: true },
  '--no-build-isolation': { uv: ['--no-build-isolation'], value: false },
  '--pre': { uv: ['--prerelease', 'allow'], value: false },
  '--no-cache-dir': { uv: ['--no-cache'], value: false },
  '--only-binary': { uv: ['--only-binary'], value: true },
  '--no-binary': { uv: ['--no-binary'], value: true },
  '--no-deps': { uv: ['--no-deps'], value: false },
  '-q': { uv: ['--quiet'], value: false },
  '--quiet': { uv: ['--quiet'], value: false },
  '-v': { uv: ['--verbose'], value: false },
  '--verbose': { uv: ['--verbose'], value: false },
};
/** The pip-args that choose where packages come from: the uv download uses them too. */
const INDEX_ARGS = new Set(['--no-index', '--index-url', '-i', '--extra-index-url', '--find-links', '-f', '--trusted-host']);

/**
 * The operator's pip-args in uv's spelling, or the first one uv has no equivalent for; `index`:
 * the ones that say where packages come from, as pip spells them (for pip download of uv).
 */
export function pipArgsForUv(pipArgs: readonly string[]): { uv: string[]; index: string[]; extraIndex: boolean } | { unsupported: string } {
  const uv: string[] = [];
  const index: string[] = [];
  let extraIndex = false;
  for (let i = 0; i < pipArgs.length; i++) {
    const arg = pipArgs[i]!;
    if (arg === '') continue;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const known = PIP_ARGS_FOR_UV[name];
    if (!known) return { unsupported: arg };
    let value: string | undefined;
    if (known.value) {
      value = eq > 0 ? arg.slice(eq + 1) : pipArgs[++i];
      if (value === undefined) return { unsupported: arg };
    }
    uv.push(...known.uv, ...(value !== undefined ? [value] : []));
    if (INDEX_ARGS.has(name)) index.push(name, ...(value !== undefined ? [value] : []));
    if (name === '--extra-index-url') extraIndex = true;
  }
  return { uv, index, extraIndex };
}

/**
 * pip's settings as `pip config list` shows them (`global.index-url='…'`, `:env:.index-url='…'`),
 * each name with the value pip uses: the environment's over the install section's over the global one.
 */
export function parsePipConfig(listing: string): Map<string, string> {
  const rank = (section: string) => (section === ':env:' ? 3 : section === 'install' ? 2 : section === 'global' ? 1 : 0);
  const found = new Map<string, { value: string; rank: number }>();
  for (const line of listing.split('\n')) {
    const match = /^([^.=\s]+)\.([\w-]+)=(['"])(.*)\3$/.exec(line.trim());
    if (!match) continue;
    const [, section, name, , value] = match;
    const r = rank(section!);
    if (r === 0) continue;
    const before = found.get(name!);
    if (!before || before.rank < r) found.set(name!, { value: value!, rank: r });
  }
  return new Map([...found].map(([name, { value }]) => [name, value]));
}

/**
 * pip's settings in uv's names: index-url → UV_DEFAULT_INDEX, extra-index-url → UV_INDEX (and
 * pip's way of picking among indexes, the best version of all, UV_INDEX_STRATEGY=unsafe-best-match),
 * find-links → UV_FIND_LINKS, trusted-host → UV_INSECURE_HOST, timeout → UV_HTTP_TIMEOUT, constraint →
 * UV_CONSTRAINT, cert →
 * SSL_CERT_FILE, client-cert → SSL_CLIENT_CERT, proxy → HTTPS_PROXY/HTTP_PROXY. What the run's
 * environment already sets under uv's name wins. no-index cannot be said in uv's environment: it
 * comes back as an argument.
 */
export function uvSettingsFromPip(pip: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv = process.env): { env: Record<string, string>; args: string[] } {
  const out: Record<string, string> = {};
  const words = (value: string) => value.split(/\s+/).filter((w) => w !== '');
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined && value !== '' && !env[name]) out[name] = value;
  };
  set('UV_DEFAULT_INDEX', pip.get('index-url'));
  const extra = pip.get('extra-index-url');
  if (extra) {
    set('UV_INDEX', words(extra).join(' '));
    set('UV_INDEX_STRATEGY', 'unsafe-best-match');
  }
  const links = pip.get('find-links');
  if (links) set('UV_FIND_LINKS', words(links).join(','));
  const trusted = pip.get('trusted-host');
  if (trusted) set('UV_INSECURE_HOST', words(trusted).join(' '));
  set('UV_HTTP_TIMEOUT', pip.get('timeout') ?? pip.get('default-timeout'));
  // The release's own constraints, given on uv's command line, take the place of these as they do of PIP_CONSTRAINT.
  const constraint = pip.get('constraint');
  if (constraint) set('UV_CONSTRAINT', words(constraint).join(' '));
  set('SSL_CERT_FILE', pip.get('cert'));
  set('SSL_CLIENT_CERT', pip.get('client-cert'));
  const proxy = pip.get('proxy');
  if (proxy && !env.https_proxy && !env.http_proxy) {
    set('HTTPS_PROXY', proxy);
    set('HTTP_PROXY', proxy);
  }
  const noIndex = pip.get('no-index');
  return { env: out, args: noIndex && /^(1|true|yes|on)$/i.test(noIndex) ? ['--no-index'] : [] };
}

/** pip's settings for `python`'s pip; none when it has no pip (then there is nothing to carry). */
export async function pipConfig(python: string): Promise<Map<string, string>> {
  const result = await runChild('pip', python, ['-m', 'pip', 'config', 'list']);
  return result.exitCode === 0 ? parsePipConfig(result.stdout) : new Map();
}

/** Takes uv's binary out of the wheel (a zip: `uv-<version>.data/scripts/uv`), with Python's zipfile. */
const EXTRACT = `import os, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(".data/scripts/uv")]
    if not names: sys.exit("the wheel holds no .data/scripts/uv")
    with open(target, "wb") as f: f.write(z.read(names[0]))
os.chmod(target, 0o755)
`;

const fetched = new Map<string, Promise<{ uv: string } | { why: string }>>();

/**
 * The pinned uv in `<manager-venv>/.uv/<version>/uv`, fetched from the index the first time (once
 * per run however many venvs ask), or why there is none.
 */
export function getUv(root: string, python: string, indexArgs: readonly string[], log: Logger): Promise<{ uv: string } | { why: string }> {
  const dir = join(uvHome(root), UV_VERSION);
  // A failure is remembered for the run (per interpreter: one without pip cannot fetch, another may),
  // so that an index that does not answer costs its timeout once, not once per venv.
  const key = `${dir}\0${python}`;
  let found = fetched.get(key);
  if (!found) {
    found = fetchUv(dir, python, indexArgs, log);
    fetched.set(key, found);
  }
  return found;
}

async function fetchUv(dir: string, python: string, indexArgs: readonly string[], log: Logger): Promise<{ uv: string } | { why: string }> {
  const uv = join(dir, 'uv');
  if (existsSync(uv)) {
    const why = await checkUv(uv);
    if (!why) return { uv };
    await rm(uv, { force: true });
  }
  await mkdir(dir, { recursive: true });
  const download = await mkdtemp(join(dir, 'download-'));
  try {
    log.info(`fetching uv ${UV_VERSION} (pip download uv==${UV_VERSION}) into ${dir}`);
    // Short timeouts: without a reachable index this is to fail fast, and pip then makes the venv.
    const got = await runChild(
      'pip',
      python,
      [
        '-m',
        'pip',
        'download',
        '--disable-pip-version-check',
        '--no-input',
        '--no-deps',
        '--only-binary=:all:',
        '--retries',
        '1',
        '--timeout',
        '30',
        '-d',
        download,
        ...indexArgs,
        `uv==${UV_VERSION}`,
      ],
      { progress: { log, what: `pip download uv==${UV_VERSION}` } },
    );
    if (got.exitCode !== 0) return { why: `pip download uv==${UV_VERSION} failed (exit ${got.exitCode}): ${lastLines(`${got.stderr}\n${got.stdout}`)}` };
    const wheel = (await readdir(download)).find((name) => name.endsWith('.whl'));
    if (!wheel) return { why: `pip download uv==${UV_VERSION} left no wheel` };
    const partial = join(download, 'uv');
    const extracted = await runChild('pip', python, ['-c', EXTRACT, join(download, wheel), partial]);
    if (extracted.exitCode !== 0) return { why: `taking uv out of ${wheel} failed: ${lastLines(extracted.stderr)}` };
    const why = await checkUv(partial);
    if (why) return { why: `${wheel}: ${why}` };
    await rename(partial, uv);
    return { uv };
  } finally {
    await rm(download, { recursive: true, force: true });
  }
}

/** Undefined when `uv --version` runs and names the pinned version; else what it did. */
async function checkUv(uv: string): Promise<string | undefined> {
  const result = await runChild('uv', uv, ['--version']);
  if (result.exitCode !== 0) return `uv --version failed (exit ${result.exitCode}): ${lastLines(result.stderr)}`;
  if (!result.stdout.startsWith(`uv ${UV_VERSION}`)) return `uv --version says "${result.stdout.trim()}", not uv ${UV_VERSION}`;
  return undefined;
}

function lastLines(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-3)
      .join(' ') || 'no output'
  );
}
