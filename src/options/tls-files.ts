/**
 * The TLS inputs of PostgreSQL and etcd, read as PEM files while the inputs are validated: a CA to
 * verify the server with, and optionally a client certificate and key. A missing or wrong file
 * stops the run before anything is written; src/stores/ connects with them.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { invalidInput } from '../core/errors.js';

export interface PemFile {
  /** Absolute, so that alembic (run from another folder) finds the same file. */
  readonly path: string;
  readonly pem: Buffer;
}

export interface TlsFiles {
  readonly ca?: PemFile;
  readonly cert?: PemFile;
  readonly key?: PemFile;
}

/** The input names of one server's TLS files, e.g. postgres-ca, postgres-client-cert, postgres-client-key. */
export function tlsInputNames(server: 'postgres' | 'etcd') {
  return { ca: `${server}-ca`, cert: `${server}-client-cert`, key: `${server}-client-key` } as const;
}

/**
 * Reads one server's TLS files; undefined when none is given. A client certificate needs its key
 * and the other way round.
 */
export function readTlsFiles(server: 'postgres' | 'etcd', paths: { ca?: string; cert?: string; key?: string }): TlsFiles | undefined {
  const names = tlsInputNames(server);
  if (!paths.ca && !paths.cert && !paths.key) return undefined;
  if (!!paths.cert !== !!paths.key) {
    const [given, missing] = paths.cert ? [names.cert, names.key] : [names.key, names.cert];
    throw invalidInput(`${given} is set but ${missing} is not; accepted: both (a client certificate and its private key) or neither`);
  }
  return {
    ca: paths.ca ? readPem(names.ca, paths.ca, /-----BEGIN CERTIFICATE-----/, 'a PEM file of CA certificate(s)') : undefined,
    cert: paths.cert ? readPem(names.cert, paths.cert, /-----BEGIN CERTIFICATE-----/, 'a PEM certificate file') : undefined,
    key: paths.key ? readPem(names.key, paths.key, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a PEM private key file (unencrypted)') : undefined,
  };
}

function readPem(input: string, path: string, marker: RegExp, accepted: string): PemFile {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'a directory' : (code ?? 'error');
    throw invalidInput(`${input} "${path}" cannot be read (${why}); accepted: the path of ${accepted}`);
  }
  if (!marker.test(pem.toString('latin1'))) {
    // Never quote the content: it may be a key.
    throw invalidInput(`${input} "${path}" is not ${accepted}`);
  }
  return { path: resolve(path), pem };
}
