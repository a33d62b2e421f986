/**
 * The target release's real manager, started as `backend.ai mgr start-server -f <copy of
 * manager.toml>` for a few seconds: its own copy of manager.toml (a free loopback service-addr,
 * one process, free aiomonitor ports, pid-file, ipc-base-path and the log in a temporary folder),
 * its own process group (so that a lingering manager and its workers are killed together), and an
 * allowlisted environment without proxy settings (child-env.ts). Its log is its console output,
 * written to a file in that folder.
 */
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'smol-toml';
import { childEnv } from './child-env.js';
import { isTable, parseToml, type TomlTable, type TomlValue } from './toml.js';

export interface ManagerTomlCopy {
  /** The deployment's manager.toml as the run read it. */
  readonly text: string;
  /** The servers the copy points the manager at: the ones the run migrated. */
  readonly postgres: { readonly host: string; readonly port: number; readonly database: string; readonly user: string; readonly password?: string };
  readonly etcd: { readonly host: string; readonly port: number; readonly namespace: string; readonly user?: string; readonly password?: string };
  /** The temporary folder: pid-file, ipc-base-path. */
  readonly dir: string;
  readonly servicePort: number;
  /** One free port for each key (the release's aiomonitor keys). */
  readonly aiomonitor: Readonly<Record<string, number>>;
  /** [manager] id: the name the manager registers under etcd nodes/manager/. */
  readonly managerId: string;
  /** An absolute rpc-auth-manager-keypair for the releases that require one. */
  readonly rpcKeypair?: string;
  /** Other addresses the release listens on ([manager] key → a free port), bound to loopback in the copy. */
  readonly listeners?: Readonly<Record<string, number>>;
}

/** [logging]: the console only (the step writes it to a file); an operator's logstash or graylog is never dialled. */
const LOGGING: TomlTable = {
  level: 'INFO',
  drivers: ['console'],
  console: { colored: false, format: 'simple' },
  'pkg-ns': { '': 'WARNING', 'ai.backend': 'INFO', aiohttp: 'WARNING' },
};

/**
 * The manager.toml the manager starts with: the deployment's, with [db] and [etcd] pointed at the
 * run's servers, [manager] made local to this machine, [logging] console only and [debug] off.
 * Everything else (the keys the new loader judges) is the operator's.
 */
export function managerTomlCopy(copy: ManagerTomlCopy): string {
  const table = parseToml(copy.text);
  const section = (name: string): TomlTable => (isTable(table[name]) ? { ...table[name] } : {});
  const db = section('db');
  db.addr = { host: copy.postgres.host, port: copy.postgres.port };
  db.name = copy.postgres.database;
  db.user = copy.postgres.user;
  if (copy.postgres.password !== undefined) db.password = copy.postgres.password;
  const etcd = section('etcd');
  etcd.addr = { host: copy.etcd.host, port: copy.etcd.port };
  etcd.namespace = copy.etcd.namespace;
  if (copy.etcd.user !== undefined) etcd.user = copy.etcd.user;
  if (copy.etcd.password !== undefined) etcd.password = copy.etcd.password;
  const manager = section('manager');
  Object.assign(manager, {
    'num-proc': 1,
    'service-addr': { host: '127.0.0.1', port: copy.servicePort },
    'ssl-enabled': false,
    id: copy.managerId,
    'pid-file': join(copy.dir, 'manager.pid'),
    'ipc-base-path': join(copy.dir, 'ipc'),
    ...copy.aiomonitor,
    ...(copy.rpcKeypair ? { 'rpc-auth-manager-keypair': copy.rpcKeypair } : {}),
    ...Object.fromEntries(Object.entries(copy.listeners ?? {}).map(([key, port]) => [key, { host: '127.0.0.1', port }])),
  });
  // Another name of the termui port (an alias of the same key): one of them only.
  if ('aiomonitor-termui-port' in copy.aiomonitor) delete manager['aiomonitor-port'];
  delete manager['public-metrics-port'];
  const debug = section('debug');
  debug.enabled = false;
  const result: Record<string, TomlValue> = { ...table, db, etcd, manager, logging: LOGGING, debug };
  return stringify(result);
}

export interface RunningManager {
  readonly pid: number;
  readonly url: string;
  readonly logFile: string;
  /** The manager's output so far. */
  log(): Promise<string>;
  /** Set once the process has exited. */
  exit(): { readonly code: number | null; readonly signal: string | null } | undefined;
  /** SIGTERM, then SIGKILL to the process group after `graceMs`; how it ended. */
  stop(graceMs: number): Promise<StopResult>;
}

export interface StopResult {
  readonly how: 'already-exited' | 'sigterm' | 'sigkill';
  readonly ms: number;
  readonly code: number | null;
}

/** Starts `command mgr start-server -f configFile` in `dir`, its output appended to dir/manager.log. */
export async function startManagerServer(command: readonly string[], configFile: string, dir: string, servicePort: number): Promise<RunningManager> {
  const logFile = join(dir, 'manager.log');
  const out = await open(logFile, 'a', 0o600);
  const [program, ...prefix] = command;
  // A holder, not a variable: TypeScript cannot see the callbacks below assign it.
  const state: { exited?: { code: number | null; signal: string | null } } = {};
  const child = spawn(program!, [...prefix, 'mgr', 'start-server', '-f', configFile], { cwd: dir, env: childEnv('manager-server'), detached: true, stdio: ['ignore', out.fd, out.fd] });
  const done = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      state.exited = { code, signal };
      resolve();
    });
    child.on('error', (error) => {
      state.exited ??= { code: 127, signal: null };
      void out.write(`\n${error.message}\n`);
      resolve();
    });
  });
  await new Promise<void>((resolve) => {
    child.once('spawn', resolve);
    child.once('error', () => resolve());
  });
  await out.close();
  const pid = child.pid ?? -1;
  const exitCode = (): number | null => state.exited?.code ?? null;
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is gone.
    }
  };
  /**
   * SIGKILL to every process of the manager's session (it was started as a session leader): its
   * process group, and any worker that moved to a group of its own. Then up to 5 s until none is left.
   */
  const killAll = async () => {
    group('SIGKILL');
    for (let i = 0; i < 50; i++) {
      const members = (await sessionMembers(pid)).filter((member) => !member.zombie);
      if (members.length === 0) return;
      for (const member of members) {
        try {
          process.kill(member.pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  return {
    pid,
    url: `http://127.0.0.1:${servicePort}`,
    logFile,
    log: () => readFile(logFile, 'utf8'),
    exit: () => state.exited,
    async stop(graceMs) {
      const started = Date.now();
      if (state.exited) {
        // Workers of an exited parent may still be running.
        await killAll();
        return { how: 'already-exited', ms: 0, code: state.exited.code };
      }
      child.kill('SIGTERM');
      const inTime = await Promise.race([done.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), graceMs).unref())]);
      if (inTime) {
        await killAll();
        return { how: 'sigterm', ms: Date.now() - started, code: exitCode() };
      }
      group('SIGKILL');
      await done;
      await killAll();
      return { how: 'sigkill', ms: Date.now() - started, code: exitCode() };
    },
  };
}

/** `GET /` until it answers (the manager serves once every context is up), the process exits, or `timeoutMs` passes. */
export async function waitForRoot(manager: RunningManager, timeoutMs: number): Promise<{ status: number; body: string } | { failure: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gone = manager.exit();
    if (gone) return { failure: `the manager exited (${gone.signal ? `signal ${gone.signal}` : `exit code ${gone.code}`}) before it answered GET /` };
    try {
      const response = await fetch(`${manager.url}/`, { signal: AbortSignal.timeout(2_000) });
      return { status: response.status, body: await response.text() };
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) return { failure: `GET / did not answer within ${Math.round(timeoutMs / 1000)} s` };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export interface Keypair {
  readonly accessKey: string;
  readonly secretKey: string;
}

/**
 * A request signed the way Backend.AI's clients sign (backend.ai@24.12.1:src/ai/backend/manager/api/auth.py,
 * sign_request; the same from v4.20181215): HMAC-SHA256 over method, path, date, host, content
 * type, API version and the hash of an empty body, keyed by the secret key, then the date (YYYYMMDD)
 * and the host.
 */
export async function signedRequest(baseUrl: string, method: string, path: string, body: string, keypair: Keypair, apiVersion: string): Promise<{ status: number; body: string }> {
  const url = new URL(path, baseUrl);
  const date = new Date();
  const rawDate = date.toISOString();
  const contentType = 'application/json';
  const bodyHash = createHash('sha256').update('').digest('hex');
  const signed = `${method}\n${url.pathname}\n${rawDate}\nhost:${url.host}\ncontent-type:${contentType}\nx-backendai-version:${apiVersion}\n${bodyHash}`;
  const day = rawDate.slice(0, 10).replaceAll('-', '');
  let key = createHmac('sha256', keypair.secretKey).update(day).digest();
  key = createHmac('sha256', key).update(url.host).digest();
  const signature = createHmac('sha256', key).update(signed).digest('hex');
  const response = await fetch(url, {
    method,
    headers: {
      // Date is a header fetch may not set; the manager reads X-BackendAI-Date when Date is absent (check_date).
      'X-BackendAI-Date': rawDate,
      'Content-Type': contentType,
      'X-BackendAI-Version': apiVersion,
      Authorization: `BackendAI signMethod=HMAC-SHA256, credential=${keypair.accessKey}:${signature}`,
    },
    body,
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: await response.text() };
}

/** The processes of session `sid` (Linux: /proc/<pid>/stat's sixth field), and which are zombies. */
async function sessionMembers(sid: number): Promise<Array<{ pid: number; zombie: boolean }>> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const members: Array<{ pid: number; zombie: boolean }> = [];
  for (const entry of entries.filter((e) => /^\d+$/.test(e))) {
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    // "pid (comm) state ppid pgrp session …": comm may hold spaces and parentheses.
    const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields && Number(fields[3]) === sid) members.push({ pid: Number(entry), zombie: fields[0] === 'Z' });
  }
  return members;
}
