import { describe, expect, it } from 'vitest';
import { describeAcceptedVersions, locateRevision, parseVersion, RELEASES, REVISION_ORDER, targetRelease } from '../../src/engine/catalogue.js';

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
    expect(RELEASES).toHaveLength(33 + 10 + 15);
    // Every head is on the revision order, so positions can be compared.
    for (const release of RELEASES) expect(REVISION_ORDER).toContain(release.head);
  });

  it('accepts a series or an exact release', () => {
    expect(parseVersion('21.09', 'from-version')).toEqual({ input: '21.09', series: '21.09' });
    expect(parseVersion(' 21.09.9 ', 'from-version').release?.head).toBe('60a1effa77d2');
    expect(targetRelease(parseVersion('22.03', 'to-version')).version).toBe('22.03.14');
    expect(targetRelease(parseVersion('21.09.2', 'to-version')).head).toBe('8679d0a7e22b');
  });

  it.each([
    ['22.04', /not a release bai-migrate can migrate/],
    ['20.09', /not a release bai-migrate can migrate/],
    ['21.09.10', /not a known 21\.09 release/],
    ['v21.09', /not a Backend\.AI version/],
    ['21.9', /not a Backend\.AI version/],
    ['', /not a Backend\.AI version/],
  ])('rejects %j and lists what is accepted', (input, message) => {
    expect(() => parseVersion(input, 'to-version')).toThrow(message);
    expect(() => parseVersion(input, 'to-version')).toThrow(describeAcceptedVersions());
  });

  it('places revisions: shared heads, interrupted upgrades, releases outside the range', () => {
    expect(locateRevision('8679d0a7e22b')).toMatchObject({ releases: expect.arrayContaining([expect.objectContaining({ version: '21.03.3' }), expect.objectContaining({ version: '21.09.2' })]) });
    expect(locateRevision('d59ff89e7514')).toMatchObject({ releases: [], between: [{ version: '21.09.9' }, { version: '22.03.0' }] });
    expect(locateRevision('3596bc12ec09')).toEqual({ revision: '3596bc12ec09', otherRelease: '24.03.11' });
    expect(locateRevision('0123456789ab')).toEqual({ revision: '0123456789ab', otherRelease: undefined });
  });
});
