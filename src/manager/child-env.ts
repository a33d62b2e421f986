/**
 * The one way bai-migrate starts a program (alembic, pip, uv, the manager's CLI): without a shell and
 * with an environment built from an allowlist, never the whole of ours. Ours holds the Action's
 * inputs (INPUT_POSTGRES-URL, INPUT_GITHUB-TOKEN), the runner's ACTIONS_RUNTIME_TOKEN and the
 * CLI's BAI_MIGRATE_* settings, and `pip install` runs third-party build code.
 */
import { getExecOutput } from '@actions/exec';
import { whileWaiting, type Progress } from '../core/progress.js';

/** Who is started: each kind gets the shared base and what only it needs. */
export type ChildKind = 'alembic' | 'pip' | 'uv' | 'manager-cli' | 'manager-server';

/** What any program needs to start and to find its files, its locale and its time zone. */
const BASE = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TEMP', 'TMP', 'LD_LIBRARY_PATH'];
/**
 * Interpreter settings that change encodings only. PYTHONPATH, PYTHONHOME and PYTHONSTARTUP are
 * left out: they change which code the manager's venv runs.
 */
const PYTHON = ['PYTHONIOENCODING', 'PYTHONUTF8'];
/** The network for pip and the manager's registry rescan; alembic talks only to PostgreSQL. */
const NETWORK = ['http_proxy', 'https_proxy', 'no_proxy', 'all_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'];

const ALLOWED: Record<ChildKind, { names: readonly string[]; prefixes: readonly string[] }> = {
  alembic: { names: [...BASE, ...PYTHON], prefixes: ['LC_'] },
  // PIP_INDEX_URL may carry the operator's index credentials: meant for pip, so pip alone gets PIP_*.
  pip: { names: [...BASE, ...PYTHON, ...NETWORK], prefixes: ['LC_', 'PIP_'] },
  // uv gets UV_* (UV_DEFAULT_INDEX may carry index credentials too) and pip's index settings only as
  // uv's own names, which the caller maps (manager/uv.ts): no PIP_*, since uv reads none of them.
  uv: { names: [...BASE, ...PYTHON, ...NETWORK], prefixes: ['LC_', 'UV_'] },
  // BACKEND_* overrides are not passed: the CLI reads the manager.toml bai-migrate checked (BACKEND_CONFIG_FILE).
  'manager-cli': { names: [...BASE, ...PYTHON, ...NETWORK], prefixes: ['LC_'] },
  // The manager's server (manager-starts) gets no proxy settings either: it is meant to reach only
  // the servers its manager.toml copy names, and the loopback.
  'manager-server': { names: [...BASE, ...PYTHON], prefixes: ['LC_'] },
};

/** The environment a `kind` child gets: the allowed names found in `from`, then `extra`. */
export function childEnv(kind: ChildKind, extra: Record<string, string> = {}, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const { names, prefixes } = ALLOWED[kind];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && (names.includes(name) || prefixes.some((p) => name.startsWith(p)))) env[name] = value;
  }
  return { ...env, ...extra };
}

export interface ChildResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The exit code a shell gives a program it cannot start; runChild gives it too. */
export const CANNOT_RUN = 127;

/**
 * Runs `program` with a `kind` environment and returns its exit code and output; a program that
 * cannot be started is exit 127 with the reason as stderr. With `progress`, a long run says that it
 * is still running.
 */
export async function runChild(kind: ChildKind, program: string, args: readonly string[], options: { cwd?: string; env?: Record<string, string>; progress?: Progress } = {}): Promise<ChildResult> {
  try {
    return await whileWaiting(options.progress, () => getExecOutput(program, [...args], { cwd: options.cwd, env: childEnv(kind, options.env), silent: true, ignoreReturnCode: true }));
  } catch (error) {
    return { exitCode: CANNOT_RUN, stdout: '', stderr: error instanceof Error ? error.message : String(error) };
  }
}
