/**
 * TLS to PostgreSQL and etcd from PEM files named by inputs: a CA to verify the server with, and
 * optionally a client certificate and key. Files are read and checked while the inputs are
 * validated, so a missing or wrong file stops the run before anything is written.
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

/** How Node (and gRPC, which only passes on Node's message) says a server certificate did not verify. */
const VERIFY_CODES = /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|ERR_TLS_CERT_ALTNAME_INVALID|CERT_[A-Z_]+)$/;
const VERIFY_MESSAGES = /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|Hostname\/IP does not match certificate|certificate has expired/i;

export function isCertificateFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && VERIFY_CODES.test(code)) return true;
  return VERIFY_MESSAGES.test(error instanceof Error ? error.message : String(error));
}

/** A certificate that does not verify gets a hint naming the input that holds the CA. */
export function tlsHint(error: unknown, caInput: string, ca: string | undefined): string {
  if (!isCertificateFailure(error)) return '';
  return ca ? ` (the server's certificate does not verify against ${caInput} ${ca})` : ` (the server's certificate does not verify: set ${caInput})`;
}
