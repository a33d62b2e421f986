// Builds everything the Action ships, from src/:
// - dist/index.js (the Action) and dist/cli.js (the CLI), one bundled file each;
// - action.yml and README's input and output tables, from src/options/spec.ts, the one list of them
//   (each input's description there ends with the commands that use it);
// - README's supported releases and status box, docs/hops.md and docs/manager-venv.md's install
//   matrix, from HOPS (src/hops/index.ts) and src/releases/, rendered by scripts/docs.ts;
// - the example workflows in README.md and docs/*.md, copied from .github/workflows/;
// - a source map beside each file (stacks point at src/…ts; no sources inside, to stay small);
// - dist/licenses.txt: every bundled package with its licence, since the bundle drops their files.
// etcd3 reads its .proto files from disk when it loads; a bundle has no such files, so the protos
// are compiled to JSON here and inlined through proto-loader's fromJSON.
import { build } from 'esbuild';
import { mkdirSync, readFileSync } from 'node:fs';
import { readFile, readdir, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');

const protoPath = require.resolve('etcd3/proto/rpc.proto');
const protoJson = JSON.stringify(new protobuf.Root().loadSync(protoPath, { keepCase: true }).toJSON());

const inlineEtcdProtos = {
  name: 'inline-etcd3-protos',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const call = '(0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`,';
      if (!source.includes(call)) throw new Error('etcd3 changed how it loads its protos; update scripts/bundle.mjs');
      return { contents: source.replace(call, `(0, proto_loader_1.fromJSON)(${protoJson},`), loader: 'js' };
    });
  },
};

// CommonJS dependencies bundled into ESM still call require() for Node built-ins, and some
// (ssh2, under Testcontainers) read __dirname: free uses of it become import.meta's.
const banner = "import { createRequire as __baiCreateRequire } from 'node:module'; const require = __baiCreateRequire(import.meta.url);";

const common = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  // Each bundled package's whole licence goes to dist/licenses.txt instead.
  legalComments: 'none',
  sourcemap: 'linked',
  sourcesContent: false,
  banner: { js: banner },
  define: { __dirname: 'import.meta.dirname', __filename: 'import.meta.filename' },
  // Native addons of Testcontainers' SSH transport: optional, and never used for a local engine.
  external: ['pg-native', '*.node'],
  plugins: [inlineEtcdProtos],
  // A worktree whose node_modules is a link to another checkout's builds the same dist/ (paths in
  // its comments stay node_modules/…).
  preserveSymlinks: true,
  logLevel: 'warning',
};

// `--docs` (npm run docs) renders only README's and docs/' text from src/hops/ and src/releases/,
// after a change of release data, leaving dist/ and action.yml as they are.
if (!process.argv.includes('--docs')) {
  // One build with shared chunks: Testcontainers (for rehearse) is a chunk loaded only when a
  // rehearsal starts servers, so every other command loads a small file.
  await rm('dist', { recursive: true, force: true });
  const { metafile } = await build({
    ...common,
    entryPoints: { index: 'src/action/index.ts', cli: 'src/cli/index.ts' },
    outdir: 'dist',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
  });

  await writeLicenses(metafile);

  await writeActionYml();
}

await writeDocs();

/** dist/licenses.txt: name, version, licence and licence files of every package esbuild bundled. */
async function writeLicenses(meta) {
  const roots = new Set();
  for (const input of Object.keys(meta.inputs)) {
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input.replaceAll('\\', '/'));
    if (match) roots.add(resolve(match[1]));
  }
  const entries = [];
  for (const root of roots) {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    const files = (await readdir(root)).filter((f) => /^(licen[cs]e|copying|notice)([.-]|$)/i.test(f)).sort();
    const texts = await Promise.all(files.map(async (f) => `--- ${f} ---\n${(await readFile(join(root, f), 'utf8')).trim()}\n`));
    const license = typeof pkg.license === 'string' ? pkg.license : (pkg.license?.type ?? pkg.licenses?.map((l) => l.type).join(' OR ') ?? 'UNKNOWN');
    entries.push({
      id: `${pkg.name}@${pkg.version}`,
      text: `${pkg.name}@${pkg.version}\nLicense: ${license}\n${texts.length > 0 ? texts.join('') : '(the package ships no licence file; its package.json names the licence above)\n'}`,
    });
  }
  // Two copies of one version (nested node_modules) are listed once.
  const unique = [...new Map(entries.map((e) => [e.id, e])).values()].sort((a, b) => a.id.localeCompare(b.id));
  const header = `Third-party software bundled into dist/ by scripts/bundle.mjs: ${unique.length} package(s), each with its licence.\n`;
  await writeFile('dist/licenses.txt', [header, ...unique.map((e) => e.text)].join('\n' + '='.repeat(78) + '\n'));
}

function capitalise(text) {
  return text[0].toUpperCase() + text.slice(1);
}

async function writeActionYml() {
  const dir = await mkdtemp(join(tmpdir(), 'bai-migrate-manifest-'));
  const file = join(dir, 'options.mjs');
  await build({ entryPoints: ['src/options/index.ts'], bundle: true, platform: 'node', format: 'esm', outfile: file, logLevel: 'warning' });
  const { INPUTS, OUTPUTS, COMMANDS, acceptedText, usedByText } = await import(pathToFileURL(file).href);
  await rm(dir, { recursive: true });
  const q = (text) => JSON.stringify(text);
  const lines = [
    '# Generated by scripts/bundle.mjs from src/options/spec.ts; edit that, then run npm run bundle.',
    'name: bai-migrate',
    'description: Plan, preflight, migrate and verify a Backend.AI cluster upgrade against its real PostgreSQL, Redis and etcd.',
    'author: bai-migrate',
    'branding:',
    '  icon: database',
    '  color: blue',
    'inputs:',
    ...INPUTS.flatMap((i) => [
      `  ${i.name}:`,
      `    description: ${q(`${i.description} (${capitalise(usedByText(i))}.)`)}`,
      '    required: false',
      ...(i.default !== undefined ? [`    default: ${q(i.default)}`] : []),
    ]),
    'outputs:',
    ...OUTPUTS.flatMap((o) => [`  ${o.name}:`, `    description: ${q(o.description)}`]),
    'runs:',
    '  using: node24',
    '  main: dist/index.js',
    '',
  ];
  await writeFile('action.yml', lines.join('\n'));
  await writeReadmeTables(INPUTS, OUTPUTS, (i) => (i.usedBy.length === COMMANDS.length ? 'every command' : i.usedBy.join(', ')), acceptedText);
}

/** README's input and output tables, between their markers, from the same list. */
async function writeReadmeTables(inputs, outputs, usedBy, acceptedText) {
  const cell = (text) => text.replaceAll('|', '\\|');
  // "accepts" from each input's kind; "used by" names the commands that read it.
  const inputRows = (describe, { withUsers = true } = {}) => [
    `| input | default | accepts |${withUsers ? ' used by |' : ''} description |`,
    `|---|---|---|${withUsers ? '---|' : ''}---|`,
    ...inputs.map((i) => `| \`${i.name}\` | ${i.default !== undefined ? `\`${i.default}\`` : ''} | ${cell(acceptedText(i))} |${withUsers ? ` ${usedBy(i)} |` : ''} ${cell(describe(i.description))} |`),
  ];
  const outputRows = ['| output | description |', '|---|---|', ...outputs.map((o) => `| \`${o.name}\` | ${cell(o.description)} |`)];
  // README keeps each input's first sentence and leaves out which commands use it, so an operator
  // reads the table at a glance; docs/inputs.md has them whole.
  let readme = await readFile('README.md', 'utf8');
  readme = replaceBlock(readme, 'README.md', 'inputs', inputRows(firstSentence, { withUsers: false }).join('\n'));
  readme = replaceBlock(readme, 'README.md', 'outputs', outputRows.join('\n'));
  await writeFile('README.md', readme);
  let full = await readFile('docs/inputs.md', 'utf8');
  full = replaceBlock(full, 'docs/inputs.md', 'inputs', inputRows((text) => text).join('\n'));
  await writeFile('docs/inputs.md', full);
}

/** A description's first sentence (one that ends before a capital letter, so "e.g. 22.03" does not end it). */
function firstSentence(text) {
  const end = /\.\s+(?=[A-Z`])/.exec(text);
  return end ? text.slice(0, end.index + 1) : text;
}

/** The text between `<!-- name:start … -->` and `<!-- name:end -->` in `file`'s `text`, replaced by `body`. */
function replaceBlock(text, file, name, body) {
  const pattern = new RegExp(`(<!-- ${name}:start[^>]*-->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!pattern.test(text)) throw new Error(`${file} lacks the <!-- ${name}:start --> … <!-- ${name}:end --> markers`);
  return text.replace(pattern, (_all, start, end) => `${start}${body}\n${end}`);
}

/**
 * What README.md and docs/ show as data (scripts/docs.ts renders it from src/hops/ and
 * src/releases/), and the example workflows in each of them. Built like the option spec above, but
 * inside node_modules/.cache with its packages left external: the steps import the stores' clients.
 */
async function writeDocs() {
  const cache = join(process.cwd(), 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = await mkdtemp(join(cache, 'bai-migrate-docs-'));
  const file = join(dir, 'docs.mjs');
  try {
    await build({ entryPoints: ['scripts/docs.ts'], bundle: true, platform: 'node', format: 'esm', target: 'node24', packages: 'external', outfile: file, logLevel: 'warning' });
    const docs = await import(pathToFileURL(file).href);
    let readme = await readFile('README.md', 'utf8');
    readme = replaceBlock(readme, 'README.md', 'releases', docs.releasesText());
    readme = replaceBlock(readme, 'README.md', 'status', docs.statusText());
    await writeFile('README.md', writeWorkflows(readme));
    await writeFile('docs/hops.md', docs.hopsDoc());
    const venv = await readFile('docs/manager-venv.md', 'utf8');
    await writeFile('docs/manager-venv.md', replaceBlock(venv, 'docs/manager-venv.md', 'python-matrix', docs.pythonMatrix()));
    for (const name of (await readdir('docs')).filter((f) => f.endsWith('.md'))) {
      const path = join('docs', name);
      const text = await readFile(path, 'utf8');
      const updated = writeWorkflows(text);
      if (updated !== text) await writeFile(path, updated);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The example workflows (README.md, docs/) are this repository's own (.github/workflows/), one
 * source: each is copied between its markers, with `uses: ./` shown as operators write it.
 */
function writeWorkflows(text) {
  return text.replace(/(<!-- workflow:([\w.-]+):start[^>]*-->\n)[\s\S]*?(<!-- workflow:\2:end -->)/g, (_all, start, file, end) => {
    const text = readFileSync(`.github/workflows/${file}`, 'utf8').replace(/^(\s*(?:- )?uses: )\.\/$/gm, '$1org/bai-migrate@v1');
    return `${start}\n\`\`\`yaml\n${text.trimEnd()}\n\`\`\`\n\n${end}`;
  });
}
