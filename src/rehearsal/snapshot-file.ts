/**
 * The snapshot file: gzip-compressed JSON lines. The first line is the manifest (what was taken,
 * from which release, what was redacted); then the schema, table rows in chunks, etcd keys in
 * chunks, manager.toml; the last line counts the records, so a truncated file is refused. With
 * snapshot-key the gzip stream is sealed (snapshot-seal.ts); readers get the unsealed file's path.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { invalidInput, messageOf, MigrationError } from '../core/errors.js';
import { sealStream } from './snapshot-seal.js';

export const SNAPSHOT_FORMAT = 'bai-migrate-snapshot';
/** 2: columns leave by allowlist (manifest postgres.columns); a version 1 file was redacted by a denylist. */
export const SNAPSHOT_FORMAT_VERSION = 2;

export interface SnapshotManifest {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly formatVersion: number;
  readonly takenAt: string;
  /** The schema position when it was taken: its revision and the releases it stands for. */
  /** `series` is the release line: the file's field name, kept so that snapshots already saved still open. */
  readonly release: { readonly revision: string; readonly series: string; readonly description: string };
  readonly postgres: {
    readonly version: string;
    /** Rows per table whose data is in the snapshot; every other table is schema only. */
    readonly rows: Readonly<Record<string, number>>;
    readonly schemaOnly: readonly string[];
    /**
     * Per table with rows, what each column carries: production's values (allowlisted, or a key
     * that holds no text), keyed pseudonyms, or neutral values (NULL, 0, '', epoch …).
     */
    readonly columns: Readonly<Record<string, { readonly copied: readonly string[]; readonly pseudonymised: readonly string[]; readonly neutralised: readonly string[] }>>;
  };
  readonly etcd: { readonly version: string; readonly namespace: string; readonly keys: number; readonly redactedKeys: readonly string[] };
  readonly redis: {
    readonly version: string;
    readonly configFile: boolean;
    /** Persistence settings (never requirepass or masterauth); absent when CONFIG is disabled. */
    readonly config?: Readonly<Record<string, string>>;
    readonly keysPerDb: Readonly<Record<string, number>>;
  };
  readonly managerConfig?: { readonly name: string; readonly redactedKeys: readonly string[] };
  /** What said the deployment was running when it was taken; a rehearsal reports it. */
  readonly liveness: { readonly managersRegistered: number; readonly liveKernels: number };
}

export interface ColumnDump {
  readonly name: string;
  readonly type: string;
  readonly notNull: boolean;
  readonly default?: string;
  readonly identity?: 'ALWAYS' | 'BY DEFAULT';
  readonly generated?: string;
}

export interface SchemaDump {
  readonly extensions: readonly string[];
  readonly enums: ReadonlyArray<{ readonly name: string; readonly labels: readonly string[] }>;
  readonly sequences: ReadonlyArray<{
    readonly name: string;
    readonly type: string;
    readonly start: string;
    readonly increment: string;
    readonly min: string;
    readonly max: string;
    readonly cycle: boolean;
    readonly lastValue: string | null;
    readonly ownedBy?: string;
  }>;
  readonly tables: ReadonlyArray<{ readonly name: string; readonly columns: readonly ColumnDump[] }>;
  /** In the order they can be added: primary keys, unique and check constraints, then foreign keys. */
  readonly constraints: ReadonlyArray<{ readonly table: string; readonly name: string; readonly definition: string }>;
  /** CREATE INDEX statements of indexes that back no constraint. */
  readonly indexes: readonly string[];
}

export type SnapshotRecord =
  | { readonly t: 'schema'; readonly schema: SchemaDump }
  | { readonly t: 'rows'; readonly table: string; readonly columns: readonly string[]; readonly rows: ReadonlyArray<ReadonlyArray<string | null>> }
  | { readonly t: 'etcd'; readonly kvs: ReadonlyArray<readonly [string, string]> }
  | { readonly t: 'manager-toml'; readonly text: string }
  | { readonly t: 'end'; readonly records: number };

/**
 * Writes next to the target (`….partial`) and renames on close, so a run that fails half-way
 * never leaves a file that looks whole, nor destroys an earlier good snapshot.
 */
export class SnapshotWriter {
  private readonly gzip = createGzip();
  private readonly done: Promise<void>;
  private readonly partial: string;
  private failure: unknown;
  private records = 0;

  /** With `key`, the file is sealed: encrypted and authenticated (snapshot-seal.ts). */
  constructor(
    private readonly path: string,
    key?: Buffer,
  ) {
    this.partial = `${path}.partial`;
    const file = createWriteStream(this.partial, { mode: 0o600 });
    this.done = key ? pipeline(this.gzip, sealStream(key), file) : pipeline(this.gzip, file);
    // Seen by write() and close(); handled here so an unwritable path is not an unhandled rejection.
    this.done.catch((error: unknown) => (this.failure ??= error));
  }

  async write(record: SnapshotManifest | SnapshotRecord): Promise<void> {
    if (this.failure) throw this.cannotWrite();
    if (!('format' in record)) this.records++;
    if (!this.gzip.write(`${JSON.stringify(record)}\n`)) await Promise.race([once(this.gzip, 'drain'), this.done]);
  }

  async close(): Promise<void> {
    await this.write({ t: 'end', records: this.records });
    this.gzip.end();
    await this.done.catch(() => undefined);
    if (this.failure) throw this.cannotWrite();
    await rename(this.partial, this.path);
  }

  /** Gives up: the partial file is removed and nothing is renamed. */
  async abandon(): Promise<void> {
    this.gzip.destroy();
    await this.done.catch(() => undefined);
    await rm(this.partial, { force: true });
  }

  private cannotWrite(): MigrationError {
    return invalidInput(`snapshot-file "${this.path}" cannot be written (${messageOf(this.failure)}); accepted: a path in a folder that exists and may be written`);
  }
}

/** The manifest, then every record; throws a clear error on a file that is not a whole snapshot. */
export async function* readSnapshot(path: string): AsyncGenerator<SnapshotManifest | SnapshotRecord> {
  const file = createReadStream(path);
  const gunzip = createGunzip();
  // pipe() does not pass on the file's errors (a missing file): hand them to the stream read below.
  file.on('error', (error) => gunzip.destroy(error));
  const lines = createInterface({ input: file.pipe(gunzip), crlfDelay: Infinity });
  let count = 0;
  let ended = false;
  try {
    for await (const line of lines) {
      const record = JSON.parse(line) as SnapshotManifest | SnapshotRecord;
      if (count === 0) {
        checkManifest(record, path);
      } else if ('t' in record && record.t === 'end') {
        if (record.records !== count - 1) throw invalidInput(`snapshot-file "${path}" is incomplete: ${count - 1} records of ${record.records}`);
        ended = true;
      }
      count++;
      yield record;
    }
  } catch (error) {
    if (error instanceof MigrationError) throw error;
    throw invalidInput(`snapshot-file "${path}" cannot be read: ${messageOf(error)}; accepted: a file written by bai-migrate snapshot`);
  } finally {
    lines.close();
    file.destroy();
  }
  if (!ended) throw invalidInput(`snapshot-file "${path}" is incomplete (it ends before its last record); take the snapshot again`);
}

/** The manifest, after reading the whole file through: a damaged file is refused before anything starts. */
export async function readManifest(path: string): Promise<SnapshotManifest> {
  let manifest: SnapshotManifest | undefined;
  for await (const record of readSnapshot(path)) manifest ??= record as SnapshotManifest;
  if (!manifest) throw invalidInput(`snapshot-file "${path}" is empty; accepted: a file written by bai-migrate snapshot`);
  return manifest;
}

function checkManifest(record: unknown, path: string): asserts record is SnapshotManifest {
  const manifest = record as Partial<SnapshotManifest>;
  if (manifest.format !== SNAPSHOT_FORMAT) throw invalidInput(`snapshot-file "${path}" is not a bai-migrate snapshot; accepted: a file written by bai-migrate snapshot`);
  if (manifest.formatVersion !== SNAPSHOT_FORMAT_VERSION) {
    throw invalidInput(`snapshot-file "${path}" has format version ${manifest.formatVersion}; this bai-migrate reads version ${SNAPSHOT_FORMAT_VERSION}: take the snapshot again`);
  }
}
