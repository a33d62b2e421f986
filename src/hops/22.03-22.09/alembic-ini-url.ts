/**
 * From 22.09 the manager's alembic env.py connects with asyncpg, and "all installations MUST
 * replace postgresql:// with postgresql+asyncpg://" in alembic.ini (backend.ai@22.09.23:CHANGES.md,
 * #702). bai-migrate's own alembic runs never read the operator's URL (they get a private copy of
 * the ini), but every alembic an operator runs by hand afterwards does: this step rewrites the
 * scheme of sqlalchemy.url in the operator's alembic.ini and nothing else of the file.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { replaceContent, unifiedDiff } from '../../manager/manager-toml.js';
import { alembicConfigBeside } from '../../manager/alembic.js';
import { changed, failed, ok, skipped, warning, type Finding, type Step, type StepContext } from '../../steps/step.js';

const ASYNCPG = 'postgresql+asyncpg';
/** The schemes of 22.03's synchronous env.py (psycopg2 is SQLAlchemy's default PostgreSQL driver). */
const SYNCHRONOUS = new Set(['postgresql', 'postgres', 'postgresql+psycopg2']);

/** The operator's alembic.ini: alembic-config, else the one beside manager.toml; undefined when there is none. */
function operatorIni(ctx: StepContext): string | undefined {
  const path = ctx.settings.alembicConfig ?? alembicConfigBeside(ctx.deployment.targets.managerConfig?.path);
  return existsSync(path) ? resolve(path) : undefined;
}

interface UrlLine {
  /** The whole line, its index in the file's lines, and the scheme of its URL. */
  readonly line: string;
  readonly index: number;
  readonly scheme: string;
}

/** `sqlalchemy.url = scheme://…` in the [alembic] section (configparser: `=` or `:`, any case of the key). */
function findUrl(text: string): UrlLine | undefined {
  let section = '';
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    const header = /^\s*\[([^\]]+)\]/.exec(line);
    if (header) section = header[1]!.trim();
    const assignment = /^\s*sqlalchemy\.url\s*[=:]\s*([A-Za-z0-9+.-]+):\/\//i.exec(line);
    if (section === 'alembic' && assignment) return { line, index, scheme: assignment[1]! };
  }
  return undefined;
}

function rewritten(text: string, url: UrlLine): string {
  const lines = text.split('\n');
  lines[url.index] = url.line.replace(`${url.scheme}://`, `${ASYNCPG}://`);
  return lines.join('\n');
}

/** What the file needs: nothing, the rewrite, or the operator's eye (a URL bai-migrate does not read). */
async function examine(ctx: StepContext): Promise<{ path?: string; text?: string; url?: UrlLine; finding: Finding }> {
  const path = operatorIni(ctx);
  if (!path) return { finding: skipped('no alembic.ini beside manager.toml and no alembic-config: nothing to rewrite (an alembic.ini kept elsewhere needs postgresql+asyncpg:// from 22.09)') };
  const text = await readFile(path, 'utf8');
  const url = findUrl(text);
  if (!url) return { path, text, finding: warning(`${path} has no sqlalchemy.url = <scheme>://… in [alembic]: check by hand that it names postgresql+asyncpg://, which 22.09's env.py needs`) };
  if (url.scheme === ASYNCPG) return { path, text, url, finding: ok(`${path} already names ${ASYNCPG}://`) };
  if (!SYNCHRONOUS.has(url.scheme)) return { path, text, url, finding: failed(`${path} names ${url.scheme}:// in sqlalchemy.url, which is neither 22.03's postgresql:// nor 22.09's ${ASYNCPG}://`) };
  return { path, text, url, finding: ok(`${path} names ${url.scheme}://, which 22.09's env.py cannot use: it will name ${ASYNCPG}://`) };
}

export const alembicIniUrl: Step = {
  id: 'alembic-ini-url',
  title: 'alembic.ini names postgresql+asyncpg://',
  kind: 'change',
  action: "Rewrites the scheme of sqlalchemy.url in the operator's alembic.ini to postgresql+asyncpg://, which 22.09's alembic env.py requires; nothing else in the file changes.",
  servers: [],

  async preflight(ctx) {
    const { url, finding } = await examine(ctx);
    // A query string holds libpq parameters (sslmode=…) that asyncpg takes under other names (ssl=…).
    if (url && /\?/.test(url.line)) return [finding, warning(`sqlalchemy.url has query parameters: asyncpg does not take libpq's (sslmode → ssl); check them after the rewrite`)];
    return [finding];
  },

  async dryRun(ctx) {
    const { path, text, url, finding } = await examine(ctx);
    if (!path || !text || !url || url.scheme === ASYNCPG || finding.status !== 'ok') return [finding];
    return [{ status: 'ok', detail: `would rewrite sqlalchemy.url of ${path} to ${ASYNCPG}://`, attachment: { name: 'alembic.ini diff', content: unifiedDiff(path, text, rewritten(text, url)) } }];
  },

  async backup(ctx) {
    const path = operatorIni(ctx);
    return path ? { name: 'alembic.ini', content: await readFile(path, 'utf8') } : undefined;
  },

  async pending(ctx) {
    const { url } = await examine(ctx);
    return url !== undefined && SYNCHRONOUS.has(url.scheme);
  },

  async apply(ctx) {
    const { path, text, url, finding } = await examine(ctx);
    if (!path || !text || !url || url.scheme === ASYNCPG || finding.status !== 'ok') return finding;
    const how = await replaceContent(path, rewritten(text, url));
    return changed(`sqlalchemy.url of ${path} now names ${ASYNCPG}:// (was ${url.scheme}://)${how}`);
  },

  async verify(ctx) {
    const { url, finding } = await examine(ctx);
    if (url && SYNCHRONOUS.has(url.scheme)) return [failed(`sqlalchemy.url still names ${url.scheme}://; 22.09's alembic needs ${ASYNCPG}://`)];
    return [finding];
  },
};
