// Generates src/releases/generated.ts, the facts bai-migrate knows of every Backend.AI release,
// from the revision catalogue kept beside the project (../shared/reference/revisions, or the
// folder given as the first argument): every final release with its alembic head and Python, and
// the revision graph of each release line at its final patch. Revision ids and graphs are facts of
// Backend.AI's tags and wheels; nothing else of upstream is copied.
//
// What it reads there (tab-separated, a header row each):
// - releases.tsv: every tag 21.03.0 … 26.8.1 (from git: `date` is the tag's date), and
//   releases-post-catalogue.tsv: the releases published after that snapshot, 26.4.11–26.4.16,
//   26.8.2–26.8.3, 26.9.0–26.9.6, read from their wheels (`date` is the wheel's build date, which
//   for 26.4.10 and 26.8.1 equals the tag date). Same columns; only `prerelease` = no rows are
//   kept, and a version may appear in one file only.
// - graph-<line>.tsv: each line's graph at its final patch (revision, down_revisions, file,
//   message). A graph-<line>-late.tsv replaces it where patches came out after the snapshot
//   (graph-26.4-late.tsv is 26.4.16's); it must hold every revision of the one it replaces with
//   the same parents, so that every earlier patch's head is still in the line's graph.
//   graph-26.9.tsv is 26.9.6's. main-*.graph.tsv (no release) is not read.
// - hops.tsv and hops-post-catalogue.tsv: the skip analysis per hop; only `covered_by_duplicate`
//   (skipped=twin:ran|will-run) is read, for the twins of revisions made twice under two ids.
//
//   node scripts/generate-releases.mjs [revisions-folder]
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? join(import.meta.dirname, '../../shared/reference/revisions');

const RELEASE_FILES = ['releases.tsv', 'releases-post-catalogue.tsv'];
const HOP_FILES = ['hops.tsv', 'hops-post-catalogue.tsv'];

function tsv(file) {
  const [header, ...rows] = readFileSync(join(dir, file), 'utf8').trimEnd().split('\n');
  const names = header.split('\t');
  return rows.map((row) => Object.fromEntries(row.split('\t').map((value, i) => [names[i], value])));
}

// 22.03.12 was tagged 22.03.11.post1 (its VERSION file says 22.03.12); PyPI knows it as 22.3.12.
const renamed = { '22.03.11.post1': '22.03.12' };
const releases = [];
const seen = new Map();
for (const file of RELEASE_FILES) {
  for (const r of tsv(file)) {
    if (r.prerelease !== 'no') continue;
    const version = renamed[r.version] ?? r.version;
    if (seen.has(version)) throw new Error(`${version} is in both ${seen.get(version)} and ${file}`);
    seen.set(version, file);
    releases.push({ version, date: r.date, heads: r.alembic_heads.split(/[ ,]+/).filter(Boolean), pythonRequires: r.python_requires });
  }
}
for (const r of releases) {
  if (!/^\d{2}\.\d{1,2}\.\d+$/.test(r.version)) throw new Error(`unexpected version ${r.version}`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(r.date)) throw new Error(`${r.version} has no date (${r.date})`);
  if (r.heads.length !== 1) throw new Error(`${r.version} has ${r.heads.length} heads`);
}

const lineOf = (version) => version.split('.').slice(0, 2).join('.');
const patchOf = (version) => Number(version.split('.')[2]);
const compareLines = (a, b) => {
  const [ay, am] = a.split('.').map(Number);
  const [by, bm] = b.split('.').map(Number);
  return ay - by || am - bm;
};
releases.sort((a, b) => compareLines(lineOf(a.version), lineOf(b.version)) || patchOf(a.version) - patchOf(b.version));

// Each line's graph at its final patch; a -late file replaces the line's graph, keeping all of it.
const files = readdirSync(dir);
const graphs = files
  .filter((f) => /^graph-\d{2}\.\d{1,2}\.tsv$/.test(f))
  .map((f) => {
    const line = f.slice('graph-'.length, -'.tsv'.length);
    const late = `graph-${line}-late.tsv`;
    if (!files.includes(late)) return { line, file: f, rows: tsv(f) };
    const rows = tsv(late);
    const parents = new Map(rows.map((r) => [r.revision, r.down_revisions]));
    for (const r of tsv(f)) {
      if (parents.get(r.revision) !== r.down_revisions) throw new Error(`${late} does not keep ${r.revision} of ${f} as it is`);
    }
    return { line, file: late, rows };
  })
  .sort((a, b) => compareLines(a.line, b.line));
for (const f of files.filter((f) => /^graph-.*-late\.tsv$/.test(f))) {
  if (!graphs.some((g) => g.file === f)) throw new Error(`${f} replaces no graph-<line>.tsv`);
}

// A revision usually has the same parents everywhere; the few that upstream re-parented between
// lines keep their parents per line.
const revisions = {};
for (const { rows } of graphs) for (const r of rows) revisions[r.revision] = [r.down_revisions, r.message];
const overrides = {};
for (const { line, rows } of graphs) {
  for (const r of rows) {
    if (revisions[r.revision][0] !== r.down_revisions) (overrides[line] ??= {})[r.revision] = r.down_revisions;
  }
}
const lines = [...new Set(releases.map((r) => lineOf(r.version)))];
for (const line of lines) if (!graphs.some((g) => g.line === line)) throw new Error(`no graph for line ${line}`);

// Every release's head lies in its line's graph, under the final patch's head: the graph kept for
// the line places each of its patches.
for (const { line, file, rows } of graphs) {
  const parents = new Map(rows.map((r) => [r.revision, r.down_revisions.split(',').filter(Boolean)]));
  const patches = releases.filter((r) => lineOf(r.version) === line);
  if (patches.length === 0) continue;
  const under = new Set();
  for (const queue = [patches.at(-1).heads[0]]; queue.length > 0;) {
    const next = queue.pop();
    if (under.has(next)) continue;
    if (!parents.has(next)) throw new Error(`${file}: ${next} is not in the graph`);
    under.add(next);
    queue.push(...parents.get(next));
  }
  for (const r of patches) if (!under.has(r.heads[0])) throw new Error(`${r.version}'s head ${r.heads[0]} is not under ${patches.at(-1).version}'s in ${file}`);
}

// Revisions that make the same change under two ids (the catalogue's skip analysis, by message):
// skipping one is harmless when its twin runs or ran.
const duplicates = {};
for (const file of HOP_FILES) {
  for (const hop of tsv(file)) {
    for (const pair of hop.covered_by_duplicate.split(',').filter(Boolean)) {
      const [skipped, twin] = pair.split(':')[0].split('=');
      if (duplicates[skipped] !== undefined && duplicates[skipped] !== twin) throw new Error(`${skipped} has two twins, ${duplicates[skipped]} and ${twin} (${file})`);
      duplicates[skipped] = twin;
    }
  }
}
const sortedDuplicates = Object.fromEntries(Object.entries(duplicates).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

const out = [
  "// Generated by scripts/generate-releases.mjs from the revision catalogue of Backend.AI's tags and wheels; do not edit.",
  "// [version, date (the tag's; from 26.4.11, 26.8.2 and 26.9.0 on the wheel's build date), alembic head, the wheel's Requires-Python], oldest first.",
  `export const RELEASE_ROWS: ReadonlyArray<readonly [string, string, string, string]> = ${JSON.stringify(releases.map((r) => [r.version, r.date, r.heads[0], r.pythonRequires]))};`,
  '',
  '// revision → [down_revisions (comma-separated, empty for the base), message], as in the newest line that has it.',
  `export const REVISIONS: Readonly<Record<string, readonly [string, string]>> = ${JSON.stringify(revisions)};`,
  '',
  '// Per line, the revisions whose parents differ there from REVISIONS (re-parented upstream).',
  `export const LINE_PARENTS: Readonly<Record<string, Readonly<Record<string, string>>>> = ${JSON.stringify(overrides)};`,
  '',
  '// revision → the revision that makes the same change under another id.',
  `export const DUPLICATE_REVISIONS: Readonly<Record<string, string>> = ${JSON.stringify(sortedDuplicates)};`,
  '',
];
writeFileSync(join(import.meta.dirname, '../src/releases/generated.ts'), out.join('\n'));
console.log(
  `${releases.length} releases in ${lines.length} lines, ${Object.keys(revisions).length} revisions (${Object.values(overrides).reduce((n, o) => n + Object.keys(o).length, 0)} re-parented per line), ${
    graphs
      .filter((g) => g.file.endsWith('-late.tsv'))
      .map((g) => `${g.line}'s graph from ${g.file}`)
      .join(', ') || 'no late graph'
  }`,
);
