/**
 * Each hop folder (src/hops/21.09-22.03/, …) stands alone (issue 25): a hop imports from
 * src/hops/hop.ts, src/steps/, src/manager/, src/releases/ and the rest, never from another hop's
 * folder, so that a hop can be changed or dropped without touching the others. What two hops share
 * lives with its owner outside src/hops/<line>-<line>/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const HOPS = join(ROOT, 'src', 'hops');
const HOP_FOLDER = /^\d{2}\.\d{1,2}-\d{2}\.\d{1,2}$/;

/** Every module specifier of a file: `import … from '…'`, `export … from '…'`, `import '…'`, `import('…')`. */
const SPECIFIER = /\b(?:from|import)\s*\(?\s*(['"])([^'"]+)\1/g;

function specifiers(text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((match) => match[2]!);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The hop folder a path lies in, if any. */
function hopFolderOf(path: string): string | undefined {
  const [first] = relative(HOPS, path).split(sep);
  return first !== undefined && HOP_FOLDER.test(first) ? first : undefined;
}

/** The imports of one hop folder's file that reach into another hop's folder, as "file: specifier". */
function crossHopImports(file: string, text: string): string[] {
  const own = hopFolderOf(file);
  return specifiers(text)
    .filter((specifier) => specifier.startsWith('.'))
    .filter((specifier) => {
      const other = hopFolderOf(resolve(dirname(file), specifier));
      return other !== undefined && other !== own;
    })
    .map((specifier) => `${relative(ROOT, file).split(sep).join('/')}: ${specifier}`);
}

const hopFolders = readdirSync(HOPS, { withFileTypes: true }).filter((entry) => entry.isDirectory() && HOP_FOLDER.test(entry.name));

describe('hops do not depend on each other', () => {
  it('finds the hop folders', () => {
    expect(hopFolders.length).toBeGreaterThan(1);
  });

  it('no file in a hop folder imports from another hop folder', () => {
    const offending = hopFolders.flatMap((folder) => filesUnder(join(HOPS, folder.name)).flatMap((file) => crossHopImports(file, readFileSync(file, 'utf8'))));
    expect(offending).toEqual([]);
  });

  it('the check catches what it is meant to', () => {
    const file = join(HOPS, '24.03-24.09', 'registry-config.ts');
    expect(crossHopImports(file, "import { pyUnquote } from '../21.09-22.03/image-tree.js';")).toEqual(['src/hops/24.03-24.09/registry-config.ts: ../21.09-22.03/image-tree.js']);
    expect(crossHopImports(file, "export { x } from '../22.03-22.09/index.js';\nconst m = await import('../23.03-23.09/rpc-keypair.js');")).toHaveLength(2);
    expect(crossHopImports(file, "import type {\n  HopDefinition,\n} from '../hop.js';")).toEqual([]);
    expect(crossHopImports(file, "import { pyUnquote } from '../../manager/python-values.js';")).toEqual([]);
    expect(crossHopImports(file, "import { facts } from './vfolder-domains.js';")).toEqual([]);
  });
});
