/**
 * What README.md and docs/ show as data, rendered from the sources that hold it, for
 * scripts/bundle.mjs (which builds this file with esbuild and imports it, as it does the option
 * spec): the supported releases and the status box from HOPS (src/hops/index.ts) and the release
 * catalogue (src/releases/), docs/hops.md from each hop's steps (title, kind, action) and its
 * release facts, and the manager-venv install matrix from src/releases/manager-python.ts.
 * Edit those sources, then run npm run bundle (or npm run docs for this text alone, leaving dist/
 * as it is); never edit the generated text by hand.
 */
import { DETOURS, HOPS, type Detour } from '../src/hops/index.js';
import type { HopDefinition } from '../src/hops/hop.js';
import { heavyRevisionsBetween } from '../src/releases/heavy-revisions.js';
import { CLEAR_HISTORY_POLICIES, lineFacts, OWN_MODE_THROUGH } from '../src/releases/line-facts.js';
import { MANAGER_PYTHON, type ManagerPythonEntry } from '../src/releases/manager-python.js';
import { INSTALL_RESULTS, testBedPython, type TestBedPython } from '../__tests__/support/test-bed-pythons.js';

/** What installing a release on the test bed showed (measurements of this project's machine). */
const resultsOf = (e: ManagerPythonEntry) => INSTALL_RESULTS[e.tried] ?? [];
/** The test bed's interpreter of the release's Python. */
/** The interpreter the entry's chosen attempt ran on (the first of its results), else the test bed's of its X.Y. */
const bedPython = (e: ManagerPythonEntry) => (e.python ? (INSTALL_RESULTS[e.tried]?.[0]?.python ?? testBedPython(e.python)) : undefined);
import { compareLines, latestRelease, LINES, RELEASES, releasesOf, revisionsOf, upgradeSkips } from '../src/releases/releases.js';

const KIND_TEXT: Readonly<Record<'change' | 'check' | 'note', string>> = {
  change: 'change: migrate writes to the deployment',
  check: 'check: judges the deployment, writes nothing',
  note: 'note: an item of the guide with nothing to run',
};

const code = (text: string) => `\`${text}\``;
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The lines bai-migrate takes, oldest first: 21.03 → … → 24.12. */
function supportedLines(): string[] {
  return [HOPS[0]!.from, ...HOPS.map((h) => h.to)];
}

/** The release line after the last one bai-migrate takes, if the catalogue knows one. */
function nextLine(): string | undefined {
  const last = HOPS.at(-1)!.to;
  return LINES.find((line) => compareLines(line, last) > 0);
}

/** README's supported-releases paragraph. */
export function releasesText(): string {
  const lines = supportedLines();
  const newest = RELEASES.at(-1)!.version;
  const next = nextLine();
  return [
    `Supported: Backend.AI **${lines.join(' → ')}**, every patch release of each (${HOPS.length} hops; what each does: [docs/hops.md](docs/hops.md)).`,
    `Every release up to ${newest} is known (versions parse, \`from-version\` is detected from any of their`,
    `revisions, \`plan\` lists the whole path), and the hops after ${lines.at(-1)} are refused before anything is`,
    `written, naming the hop${next ? ` (${next} and later are next)` : ''}. Patch upgrades within a later line are taken`,
    `(e.g. 26.4.3 → 26.4.16), with a check of the rows their revisions stop on or delete for good.`,
    `\`clear-history\` takes every known release, each with its own manager's semantics.`,
  ].join('\n');
}

/** README's status box. */
export function statusText(): string {
  const lines = supportedLines();
  const firstLine = CLEAR_HISTORY_POLICIES[0]!.since.split('.').slice(0, 2).join('.');
  const downgradeFirst = HOPS.find((h) => h.steps.some((s) => s.id === 'schema' && /^Downgrades/.test(s.action)));
  return [
    `> **Status of this version.** \`plan\`, \`preflight\`, \`verify\` and \`migrate\` (with \`dry-run\`) are`,
    `> complete for ${lines.join(' → ')}, \`clear-history\` for databases of ${firstLine} to`,
    `> ${OWN_MODE_THROUGH} (later ones with \`mode: manager\`), and \`snapshot\` / \`rehearse\` for rehearsing a`,
    `> migration on disposable servers in a PR check.${downgradeFirst ? ` ${downgradeFirst.from} → ${downgradeFirst.to} is the first hop whose schema needs more than` : ''}`,
    ...(downgradeFirst ? [`> \`alembic upgrade\`: see [docs/hops.md](docs/hops.md#${anchor(downgradeFirst)}).`] : []),
  ].join('\n');
}

/** GitHub's anchor of a hop's heading in docs/hops.md ("## 22.09 → 23.03"). */
function anchor(hop: HopDefinition): string {
  return `${hop.from}--${hop.to}`.replaceAll('.', '');
}

function patchRange(line: string): string {
  const releases = releasesOf(line);
  return `${releases[0]!.version}–${releases.at(-1)!.version} (${releases.length} releases)`;
}

function pythonOf(version: string): ManagerPythonEntry | undefined {
  const [year, minor, patch] = version.split('.').map(Number);
  const line = `${year}.${String(minor).padStart(year! <= 24 ? 2 : 1, '0')}`;
  return MANAGER_PYTHON.find((e) => e.line === line && patch! >= e.patches[0] && patch! <= e.patches[1]);
}

const PYTHON_TEXT: Readonly<Record<TestBedPython, string>> = {
  '3.9-bullseye': '3.9 (Debian bullseye)',
  '3.10-pyenv': '3.10 (pyenv)',
  '3.11-bookworm': '3.11 (Debian bookworm)',
  '3.12-pyenv': '3.12 (pyenv)',
  '3.13-trixie': '3.13 (Debian trixie)',
  '3.13-pyenv': '3.13 (pyenv)',
};

function hopSection(hop: HopDefinition): string[] {
  const source = latestRelease(hop.from);
  const target = latestRelease(hop.to);
  const facts = lineFacts(hop.to);
  const python = pythonOf(target.version);
  const skips = upgradeSkips(hop.from, hop.to, [source.head], target.head);
  const heavy = heavyRevisionsBetween(hop.from, source.head, target);
  const out = [
    `## ${hop.from} → ${hop.to}`,
    '',
    '| fact | value |',
    '|---|---|',
    `| releases of ${hop.from} | ${patchRange(hop.from)}; the last, ${source.version}, is at ${code(source.head)} |`,
    `| target | ${target.version} (${target.date}), alembic head ${code(target.head)}; releases of ${hop.to}: ${patchRange(hop.to)} |`,
    `| Requires-Python of ${target.version} | ${code(target.pythonRequires)} |`,
    `| manager venv | ${python ? `${python.tried} installs on ${python.python ? PYTHON_TEXT[bedPython(python)!] : 'no interpreter of the test bed'}${python.pipArgs.length ? ` with ${python.pipArgs.map(code).join(' ')}` : ''}${python.constraints.length ? `, constraints ${python.constraints.map(code).join(', ')}` : ''}${python.alsoInstall?.length ? `, also installing ${python.alsoInstall.map(code).join(', ')}` : ''}` : 'not tried'} |`,
    `| alembic's driver | ${facts.alembicDriver} |`,
    `| halfstack of ${hop.to} | ${code(facts.halfstack.postgres)}, ${code(facts.halfstack.redis)}, ${code(facts.halfstack.etcd)}${facts.halfstackNote ? ` (${cell(facts.halfstackNote)})` : ''} |`,
    `| image rescan | ${code(`backend.ai ${facts.imageRescanCommand.join(' ')} REGISTRY`)} |`,
    revisionsOf(hop.to).has(source.head)
      ? `| a plain \`alembic upgrade\` from ${source.version} would skip | ${skips.skipped.length ? skips.skipped.map(code).join(', ') : 'nothing'}${skips.covered.length ? `; covered by a twin: ${skips.covered.map((c) => `${code(c.revision)} (${code(c.twin)})`).join(', ')}` : ''} |`
      : `| a plain \`alembic upgrade\` from ${source.version} | cannot start: ${code(source.head)} is no revision of ${hop.to}'s scripts |`,
    `| revisions whose time grows with the data | ${heavy.length ? heavy.map((h) => `${code(h.revision)} (${h.growth}: ${cell(h.work)})`).join('; ') : 'none'} |`,
    '',
    '| # | step | kind | what it does |',
    '|---|---|---|---|',
    ...hop.steps.map((step, i) => `| ${i + 1} | ${code(step.id)}: ${cell(step.title)} | ${step.kind} | ${cell(step.action)} |`),
    '',
  ];
  return out;
}

/** A route that replaces several hops, chosen by its input (hops/plan.ts, decideDetour). */
function detourSection(detour: Detour): string[] {
  return [
    `## ${detour.from} → ${detour.to} at once`,
    '',
    `${cell(detour.way)}, instead of ${detour.usualWay}. \`${detour.input}: ${detour.value}\` takes it, \`${detour.usual}\` keeps the usual hops, and \`auto\` takes it when ${code(detour.blockedBy)} finds rows the usual way would stop on, saying so in the plan.`,
    '',
    ...Object.entries(detour.leaves).map(([step, why]) => `- leaves out ${code(step)}: ${cell(why)}`),
    '',
    '| # | step | kind | what it does |',
    '|---|---|---|---|',
    ...detour.steps.map((step, i) => `| ${i + 1} | ${code(step.id)}: ${cell(step.title)} | ${step.kind} | ${cell(step.action)} |`),
    '',
  ];
}

/** docs/hops.md, whole. */
export function hopsDoc(): string {
  return [
    "<!-- Generated by scripts/bundle.mjs from src/hops/ (each step's title, kind and action) and src/releases/; edit those, then run npm run bundle. -->",
    '',
    '# The hops',
    '',
    `bai-migrate takes Backend.AI ${supportedLines().join(' → ')}, one hop per release line, each to`,
    "the line's final patch. A run of several hops takes each with its own target release. A patch",
    'upgrade within a line runs only `services-stopped` and `schema`.',
    '',
    'Kinds of step:',
    '',
    ...Object.values(KIND_TEXT).map((text) => `- ${text}`),
    '',
    'What each step checks in preflight and changes in migrate, in detail: [steps.md](steps.md).',
    "The golden file of each hop's `plan` is `__tests__/golden/plan/<from>-<to>.txt`.",
    '',
    ...HOPS.map((hop) => `- [${hop.from} → ${hop.to}](#${anchor(hop)}): ${hop.steps.length} steps`),
    ...DETOURS.map((d) => `- route [${d.from} → ${d.to} at once](#${anchor(d)}-at-once), instead of ${d.spans.join(', ')} when the usual way would stop`),
    '',
    ...HOPS.flatMap(hopSection),
    ...DETOURS.flatMap(detourSection),
  ].join('\n');
}

const cold = (e: ManagerPythonEntry) => {
  const chosen = resultsOf(e).find((r) => r.python === bedPython(e));
  if (!chosen) return '';
  const time =
    chosen.coldSeconds === undefined
      ? chosen.warmSeconds === undefined
        ? ''
        : `– / ${chosen.warmSeconds} s`
      : `${chosen.coldSeconds} s${chosen.warmSeconds === undefined ? '' : ` / ${chosen.warmSeconds} s`}`;
  return [time, chosen.venvMegabytes === undefined ? '' : `${chosen.venvMegabytes} MB`].filter(Boolean).join(', ');
};

/** docs/manager-venv.md's install matrix: which Python each release line installs on. */
export function pythonMatrix(): string {
  return [
    '| release (tried) | Requires-Python | installs on | pip extras | alembic head / CLI | cold / warm, venv | does not run on |',
    '|---|---|---|---|---|---|---|',
    ...MANAGER_PYTHON.map((e) => {
      const chosen = resultsOf(e).find((r) => r.python === bedPython(e));
      const extras = [
        ...e.pipArgs.map(code),
        ...(e.constraints.length ? [`constraints ${e.constraints.map(code).join(', ')}`] : []),
        ...e.preinstall.map((p) => `preinstall ${code(p)}`),
        ...(e.alsoInstall?.length ? [`also ${e.alsoInstall.map(code).join(', ')}`] : []),
      ].join('; ');
      const fails = resultsOf(e)
        .filter((r) => !(r.installs && r.alembic && r.cli))
        .map((r) => `${PYTHON_TEXT[r.python]}: ${cell(r.failure ?? 'fails')}`);
      const check = chosen ? `${e.head ? code(e.head) : '?'} ${chosen.alembic ? '✓' : '✗'} / ${chosen.cli ? '✓' : '✗'}` : '';
      return `| ${e.line}.${e.patches[0]}–${e.patches[1]} (${e.tried}) | ${code(e.requiresPython)} | ${e.python ? PYTHON_TEXT[bedPython(e)!] : `**no**${e.reason ? `: ${cell(e.reason)}` : ''}`} | ${extras} | ${check} | ${cold(e)} | ${fails.join('; ')} |`;
    }),
    '',
    'Where the constraints come from:',
    '',
    ...[...new Map(MANAGER_PYTHON.filter((e) => e.constraintsSource).map((e) => [e.constraintsSource!, e])).values()].map(
      (e) =>
        `- ${MANAGER_PYTHON.filter((other) => other.constraintsSource === e.constraintsSource)
          .map((other) => `${other.line}.${other.patches[0]}–${other.patches[1]}`)
          .join(', ')} (${e.constraints.map(code).join(', ')}): ${e.constraintsSource}`,
    ),
    '',
    'Why some lines install more than the manager asks for:',
    '',
    ...[...new Map(MANAGER_PYTHON.filter((e) => e.alsoInstallSource).map((e) => [e.alsoInstallSource!, e])).values()].map(
      (e) =>
        `- ${MANAGER_PYTHON.filter((other) => other.alsoInstallSource === e.alsoInstallSource)
          .map((other) => `${other.line}.${other.patches[0]}–${other.patches[1]}`)
          .join(', ')} (${e.alsoInstall!.map(code).join(', ')}): ${e.alsoInstallSource}`,
    ),
  ].join('\n');
}
