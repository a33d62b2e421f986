/**
 * Facts about releases live in src/releases/ (issue 12): nothing outside it compares a release
 * line with `line ===` or holds a line as a string literal to branch on, so that adding a line
 * means adding data there, not finding every `if`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return path === join(SRC, 'releases') ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** `a.line === b`, `x === to.line`, `line === '22.03'`, `toLine !== fromLine`. */
const LINE_COMPARISON = [/\.line\s*[!=]==/, /[!=]==\s*[\w?.!]*\.line\b/, /\b\w*line\s*[!=]==\s*['"`]/i, /['"`]\s*[!=]==\s*\w*line\b/i, /\b\w*line\s*[!=]==\s*\w*line\b/i];

/** A string literal that is exactly a release line or release: '22.03', "25.15", `21.09.9`. */
const LINE_LITERAL = /(['"`])2\d\.\d{1,2}(?:\.\d{1,3})?\1/;

/**
 * Where a line literal is no release fact: a hop's definition names the two lines it joins (its
 * folder has the same name), which is what the planner looks the hop up by.
 */
const LITERAL_ALLOWED = [/^src\/hops\/\d{2}\.\d{1,2}-\d{2}\.\d{1,2}\/index\.ts$/];

function offending(pattern: RegExp | readonly RegExp[], allowed: readonly RegExp[] = []): string[] {
  const patterns = Array.isArray(pattern) ? pattern : [pattern as RegExp];
  return sourceFiles(SRC).flatMap((file) => {
    const name = relative(ROOT, file).split('\\').join('/');
    if (allowed.some((a) => a.test(name))) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, index) => (patterns.some((p) => p.test(line)) ? [`${name}:${index + 1}: ${line.trim()}`] : []));
  });
}

describe('release facts stay in src/releases/', () => {
  it('no code outside it compares release lines with === or !== (sameLine() compares two positions)', () => {
    expect(offending(LINE_COMPARISON)).toEqual([]);
  });

  it('no code outside it holds a release line as a string literal, but for the hops naming their lines', () => {
    expect(offending(LINE_LITERAL, LITERAL_ALLOWED)).toEqual([]);
  });

  it('the patterns catch what they are meant to', () => {
    const caught = (line: string) => LINE_COMPARISON.some((p) => p.test(line));
    expect(caught("const withRedis = release.line === '22.03';")).toBe(true);
    expect(caught('if (start.line === to.line) {')).toBe(true);
    expect(caught('const hopTo = toLine === to.line ? to : x;')).toBe(true);
    expect(caught("return line === '21.09' || line === '21.03' ? a : b;")).toBe(true);
    expect(caught('if (byLine !== 0) return byLine > 0;')).toBe(false);
    expect(LINE_LITERAL.test("compareLines(release.line, '22.03') > 0")).toBe(true);
    expect(LINE_LITERAL.test("  '21.09': { postgres: 'postgres:13.7' },")).toBe(true);
    expect(LINE_LITERAL.test('unusableAs(base, `21.09 skips it as malformed: ${ref.error}`);')).toBe(false);
    expect(LITERAL_ALLOWED.some((a) => a.test('src/hops/21.09-22.03/index.ts'))).toBe(true);
    expect(LITERAL_ALLOWED.some((a) => a.test('src/hops/21.09-22.03/image-rescan.ts'))).toBe(false);
  });
});
