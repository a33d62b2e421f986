import { describe, expect, it } from 'vitest';
import { describeAcceptedVersions, locateRevision, parseVersion, RELEASES, targetRelease } from '../../../src/releases/catalogue.js';
import { LINES, linesHolding, parentsIn, reaches, revisionsOf } from '../../../src/releases/releases.js';

describe('release catalogue', () => {
  it('knows every patch of 21.03, 21.09 and 22.03 with its alembic head', () => {
    const head = (version: string) => RELEASES.find((r) => r.version === version)?.head;
    expect(head('21.03.0')).toBe('518ecf41f567');
    expect(head('21.03.2')).toBe('518ecf41f567');
    expect(head('21.03.3')).toBe('8679d0a7e22b');
    expect(head('21.03.32')).toBe('8679d0a7e22b');
    expect(head('21.09.2')).toBe('8679d0a7e22b');
    expect(head('21.09.3')).toBe('60a1effa77d2');
    expect(head('21.09.9')).toBe('60a1effa77d2');
    expect(head('22.03.0')).toBe('81c264528f20');
    expect(head('22.03.14')).toBe('81c264528f20');
    expect(RELEASES.filter((r) => ['21.03', '21.09', '22.03'].includes(r.line))).toHaveLength(33 + 10 + 15);
    // 22.03.12 was tagged 22.03.11.post1 upstream.
    expect(head('22.03.12')).toBe('81c264528f20');
  });

  it("knows every release line up to 26.9, each release's head in its line's graph", () => {
    expect(LINES[0]).toBe('21.03');
    expect(LINES.at(-1)).toBe('26.9');
    expect(LINES).toContain('25.15');
    expect(LINES).not.toContain('26.5');
    expect(RELEASES).toHaveLength(247);
    for (const release of RELEASES) expect(revisionsOf(release.line).has(release.head)).toBe(true);
    // Ancestry, not list order: 21.09.9's head lies under every later line's head.
    for (const line of LINES.filter((l) => l >= '22.03')) expect(reaches(line, RELEASES.find((r) => r.line === line)!.head, '60a1effa77d2')).toBe(true);
  });

  it('knows the releases published after 26.8.1 (final ones only), with their heads, dates and Requires-Python', () => {
    const of = (line: string) => RELEASES.filter((r) => r.line === line);
    expect(of('26.4').map((r) => r.patch)).toEqual([...Array(17).keys()]);
    expect(of('26.8').map((r) => r.version)).toEqual(['26.8.0', '26.8.1', '26.8.2', '26.8.3']);
    expect(of('26.9').map((r) => r.version)).toEqual(['26.9.0', '26.9.1', '26.9.2', '26.9.3', '26.9.4', '26.9.5', '26.9.6']);
    const head = (version: string) => RELEASES.find((r) => r.version === version)?.head;
    for (const patch of [11, 12, 13, 14, 15, 16]) expect(head(`26.4.${patch}`)).toBe('e1b7f3d20a94');
    expect([head('26.8.2'), head('26.8.3')]).toEqual(['b93d1c47af52', 'b93d1c47af52']);
    expect([0, 1, 2, 3].map((p) => head(`26.9.${p}`))).toEqual(Array(4).fill('d17b4e9c25a8'));
    expect([4, 5, 6].map((p) => head(`26.9.${p}`))).toEqual(Array(3).fill('d1117da8d8bd'));
    expect(RELEASES.find((r) => r.version === '26.9.6')).toMatchObject({ date: '2026-10-22', pythonRequires: '>=3.13,<3.14' });
    expect(RELEASES.find((r) => r.version === '26.4.16')).toMatchObject({ date: '2026-10-27', pythonRequires: '>=3.13,<3.14' });
    expect(RELEASES.some((r) => /[a-z]/.test(r.version))).toBe(false);
    expect(() => parseVersion('26.9.7', 'to-version')).toThrow(/not a known 26\.9 release; known: 26\.9\.0–\.6/);
    expect(() => parseVersion('26.8.4', 'to-version')).toThrow(/not a known 26\.8 release; known: 26\.8\.0–\.3/);
    expect(targetRelease(parseVersion('26.9', 'to-version')).version).toBe('26.9.6');
    expect(targetRelease(parseVersion('26.4', 'to-version')).version).toBe('26.4.16');
  });

  it("keeps 26.4.16's graph for 26.4, under whose head every 26.4 patch's head lies, and 26.9.6's for 26.9", () => {
    expect(revisionsOf('26.4').size).toBe(403);
    expect(revisionsOf('26.9').size).toBe(556);
    expect(revisionsOf('26.8').size).toBe(448);
    for (const release of RELEASES.filter((r) => r.line === '26.4')) expect(reaches('26.4', 'e1b7f3d20a94', release.head), release.version).toBe(true);
    expect(parentsIn('26.4', 'e1b7f3d20a94')).toEqual(['bd1bf0524350']);
    // e1b7f3d20a94 is no revision of 26.7 or 26.8; 26.9 has it, spliced under 26.8's 2d6443ac0d4a.
    expect(linesHolding('e1b7f3d20a94')).toEqual(['26.4', '26.9']);
    expect(parentsIn('26.8', '2d6443ac0d4a')).toEqual(['bd1bf0524350']);
    expect(parentsIn('26.9', '2d6443ac0d4a')).toEqual(['e1b7f3d20a94']);
    expect(locateRevision('e1b7f3d20a94')).toMatchObject({ releases: RELEASES.filter((r) => r.head === 'e1b7f3d20a94') });
    expect(locateRevision('d1117da8d8bd')).toMatchObject({ releases: [{ version: '26.9.4' }, { version: '26.9.5' }, { version: '26.9.6' }] });
  });

  it('accepts a line or an exact release', () => {
    expect(parseVersion('21.09', 'from-version')).toEqual({ input: '21.09', line: '21.09' });
    expect(parseVersion(' 21.09.9 ', 'from-version').release?.head).toBe('60a1effa77d2');
    expect(targetRelease(parseVersion('22.03', 'to-version')).version).toBe('22.03.14');
    expect(targetRelease(parseVersion('21.09.2', 'to-version')).head).toBe('8679d0a7e22b');
  });

  it("parses YY.MM and YY.N lines, with or without a patch, and PyPI's spelling of old ones", () => {
    expect(parseVersion('25.15', 'to-version')).toEqual({ input: '25.15', line: '25.15' });
    expect(targetRelease(parseVersion('25.15', 'to-version')).version).toBe('25.15.12');
    expect(parseVersion('26.4.10', 'to-version').release?.head).toBe('bd1bf0524350');
    expect(parseVersion('21.9.9', 'from-version').release?.version).toBe('21.09.9');
    expect(parseVersion('24.03', 'to-version').line).toBe('24.03');
  });

  it.each([
    ['22.04', /no Backend\.AI release line bai-migrate knows/],
    ['20.09', /no Backend\.AI release line bai-migrate knows/],
    ['26.5', /no Backend\.AI release line bai-migrate knows/],
    ['26.10', /no Backend\.AI release line bai-migrate knows/],
    // Pre-releases are not in the catalogue.
    ['26.9.0rc3', /not a Backend\.AI version/],
    ['21.09.10', /not a known 21\.09 release; known: 21\.09\.0–\.9/],
    ['v21.09', /not a Backend\.AI version/],
    ['21', /not a Backend\.AI version/],
    ['', /not a Backend\.AI version/],
  ])('rejects %j and lists what is accepted', (input, message) => {
    expect(() => parseVersion(input, 'to-version')).toThrow(message);
    // An unknown patch of a known line lists that line's patches instead.
    if (!input.startsWith('21.09.')) expect(() => parseVersion(input, 'to-version')).toThrow(describeAcceptedVersions());
  });

  it('places revisions: shared heads, interrupted upgrades, releases outside the range', () => {
    expect(locateRevision('8679d0a7e22b')).toMatchObject({ releases: expect.arrayContaining([expect.objectContaining({ version: '21.03.3' }), expect.objectContaining({ version: '21.09.2' })]) });
    expect(locateRevision('d59ff89e7514')).toMatchObject({ releases: [], between: [{ version: '21.09.9' }, { version: '22.03.0' }] });
    expect(locateRevision('3596bc12ec09')).toMatchObject({ releases: expect.arrayContaining([expect.objectContaining({ version: '24.03.11' })]) });
    // A revision only 23.03 has, between 22.09.23's head and 23.03.0's.
    expect(locateRevision('36b69ddee76e')).toMatchObject({ releases: [], between: [{ line: '22.09' }, { version: '23.03.0' }] });
    expect(locateRevision('dc9b66466e43')).toEqual({ revision: 'dc9b66466e43', otherRelease: '20.09.0' });
    expect(locateRevision('0123456789ab')).toEqual({ revision: '0123456789ab', otherRelease: undefined });
  });
});
