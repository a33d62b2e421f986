// The layer rule of docs/architecture.md, checked (npm run lint): imports point down, never up.
// Every import of a file under src/ (types and dynamic imports too) must name a file of its own
// layer or of a layer below it; a folder in no layer fails too, so that a new one gets placed.
//
//   node scripts/check-layers.mjs [src folder, default src]
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** The layers, top to bottom, and the folders of src/ each holds. */
const LAYERS = [
  { name: 'adapters', folders: ['action', 'cli'] },
  { name: 'engine', folders: ['commands'] },
  { name: 'domain', folders: ['hops', 'steps', 'manager', 'rehearsal', 'stores'] },
  { name: 'options', folders: ['options'] },
  { name: 'releases', folders: ['releases'] },
  { name: 'core', folders: ['core'] },
];

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The layer's index in LAYERS (0 is the top) of a file under src, or undefined when its folder is in none. */
function layerOf(src, file) {
  const parts = relative(src, file).split(sep);
  if (parts.length < 2) return undefined;
  const index = LAYERS.findIndex((layer) => layer.folders.includes(parts[0]));
  return index < 0 ? undefined : index;
}

/** Every problem with the layer rule under `src`, one line each; empty when there is none. */
function layerProblems(src) {
  const name = (file) => relative(dirname(src), file).split(sep).join('/');
  const problems = [];
  for (const file of sourceFiles(src)) {
    const from = layerOf(src, file);
    if (from === undefined) {
      problems.push(`${name(file)} is in no layer: put it in a folder of one, or add its folder to LAYERS in scripts/check-layers.mjs and to docs/architecture.md`);
      continue;
    }
    // preProcessFile finds imports, `export … from` and import() without reading comments or strings.
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), fileName).replace(/\.js$/, '.ts');
      // Outside src/ (package.json) is no layer's.
      if (relative(src, target).startsWith('..')) continue;
      const to = layerOf(src, target);
      if (to !== undefined && to >= from) continue;
      const where = to === undefined ? 'in no layer' : `${LAYERS[to].name}, a layer above ${LAYERS[from].name}`;
      problems.push(`${name(file)} imports ${name(target)} (${where}); imports point down (docs/architecture.md)`);
    }
  }
  return problems;
}

const src = resolve(process.argv[2] ?? 'src');
const problems = layerProblems(src);
if (problems.length > 0) {
  console.error(`The layer rule is broken (${LAYERS.map((layer) => `${layer.name}: ${layer.folders.join(', ')}`).join(' > ')}):`);
  for (const problem of problems) console.error(`  ${problem}`);
  process.exitCode = 1;
}
