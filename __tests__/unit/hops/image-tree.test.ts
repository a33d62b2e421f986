/**
 * The etcd image tree read as the 21.09 manager reads it (src/hops/21.09-22.03/image-tree.ts). The expected
 * values follow backend.ai-manager@21.09.9 config.py and backend.ai-common@21.09.8 docker.py/etcd.py.
 */
import { describe, expect, it } from 'vitest';
import { ALIAS_LOOKUPS, canonicalImageRef, parseImageTree } from '../../../src/hops/21.09-22.03/image-tree.js';
import { pyUnquote } from '../../../src/manager/python-values.js';

const q = encodeURIComponent;
const REGISTRIES = { 'config/docker/registry/cr.backend.ai': 'https://cr.backend.ai', 'config/docker/registry/cr.backend.ai/type': 'harbor2' };
const base = `images/cr.backend.ai/${q('stable/python')}`;

/** A usable tag: digest and one resource key, as the scanner writes. */
function tag(path: string, extra: Record<string, string> = {}): Record<string, string> {
  return { [path]: `sha256:${'a'.repeat(64)}`, [`${path}/resource/cpu/min`]: '1', ...extra };
}

describe('etcd image tree (21.09 layout)', () => {
  it('reads digests, sizes, labels, resource limits, accelerators and aliases', () => {
    const tree = parseImageTree(
      {
        [base]: '1',
        [`${base}/3.9`]: 'sha256:abc',
        [`${base}/3.9/size_bytes`]: '1024',
        [`${base}/3.9/labels/ai.backend.role`]: 'system',
        [`${base}/3.9/labels/ai.backend.kernelspec`]: '1',
        [`${base}/3.9/accels`]: 'cuda',
        [`${base}/3.9/resource/cpu/min`]: '1',
        [`${base}/3.9/resource/cpu/max`]: '8',
        [`images/_aliases/${q('py:3')}`]: 'cr.backend.ai/stable/python:3.9',
      },
      REGISTRIES,
    );
    expect(tree.unusable).toEqual([]);
    expect(tree.images).toEqual([
      {
        name: 'cr.backend.ai/stable/python:3.9',
        registry: 'cr.backend.ai',
        image: 'stable/python',
        tag: '3.9',
        architecture: 'x86_64',
        digest: 'sha256:abc',
        sizeBytes: 1024,
        type: 'SYSTEM',
        accelerators: 'cuda',
        labels: { 'ai.backend.role': 'system', 'ai.backend.kernelspec': '1' },
        resources: { cpu: { min: '1', max: '8' } },
      },
    ]);
    expect(tree.aliases).toEqual([{ alias: 'py:3', key: 'images/_aliases/py%3A3', image: 'cr.backend.ai/stable/python:3.9', chain: ['py:3'] }]);
  });

  it("a hand-registered image without size_bytes or accelerators is read with 21.09's defaults (size 0, none)", () => {
    const tree = parseImageTree(tag(`${base}/custom`, { [`${base}/custom/labels/ai.backend.kernelspec`]: '1' }), REGISTRIES);
    expect(tree.unusable).toEqual([]);
    expect(tree.images).toMatchObject([{ name: 'cr.backend.ai/stable/python:custom', sizeBytes: 0, accelerators: null, labels: { 'ai.backend.kernelspec': '1' } }]);
  });

  it("URL-quoted names decode as Python's unquote does: non-ASCII, and malformed sequences kept, never an error", () => {
    expect(pyUnquote('caf%C3%A9%2Fml')).toBe('café/ml');
    expect(pyUnquote('bad%E0%A4%A')).toBe('bad\uFFFD%A');
    expect(pyUnquote('%ZZ')).toBe('%ZZ');
    const tree = parseImageTree({ ...tag(`images/cr.backend.ai/${q('team/café')}/1.0`), 'images/_aliases/%ZZ': 'cr.backend.ai/team/café:1.0' }, REGISTRIES);
    expect(tree.unusable).toEqual([]);
    expect(tree.images.map((i) => i.name)).toEqual(['cr.backend.ai/team/café:1.0']);
    expect(tree.aliases.map((a) => a.alias)).toEqual(['%ZZ']);
  });

  it('names each entry 21.09 itself cannot use, with the key and why', () => {
    const tree = parseImageTree(
      {
        ...tag('images/cr.backend.ai/img/2.0', { 'images/cr.backend.ai/img/2.0/size_bytes': 'big' }),
        'images/cr.backend.ai/img/3.0/size_bytes': '1',
        'images/cr.backend.ai/img/3.0/resource/cpu/min': '1',
        'images/cr.backend.ai/img/4.0': 'sha256:labels-only',
        'images/cr.backend.ai/img/4.0/labels/ai.backend.kernelspec': '1',
        ...tag('images/old.registry.example/img/1.0'),
        ...tag('images/cr.backend.ai/img/-bad-'),
      },
      REGISTRIES,
    );
    expect(tree.images).toEqual([]);
    const byKey = Object.fromEntries(tree.unusable.map((u) => [u.key, u.reason]));
    expect(Object.keys(byKey).sort()).toEqual([
      'images/cr.backend.ai/img/-bad-',
      'images/cr.backend.ai/img/2.0/size_bytes',
      'images/cr.backend.ai/img/3.0',
      'images/cr.backend.ai/img/4.0/resource',
      'images/old.registry.example/img/1.0',
    ]);
    expect(byKey['images/cr.backend.ai/img/2.0/size_bytes']).toMatch(/"big" is not a whole number/);
    expect(byKey['images/cr.backend.ai/img/3.0']).toMatch(/no digest/);
    expect(byKey['images/cr.backend.ai/img/4.0/resource']).toMatch(/no resource\/ keys/);
    expect(byKey['images/old.registry.example/img/1.0']).toMatch(/registry "old\.registry\.example" is not in etcd config\/docker\/registry/);
    expect(byKey['images/cr.backend.ai/img/-bad-']).toMatch(/malformed: "-bad-" is not a valid image tag/);
  });

  it('resolves alias chains to the image they end at, and names loops, over-long chains and dangling aliases', () => {
    const image = 'cr.backend.ai/stable/python:3.9';
    const chain = Object.fromEntries(Array.from({ length: ALIAS_LOOKUPS }, (_, i) => [`images/_aliases/deep${i}`, i === ALIAS_LOOKUPS - 1 ? image : `deep${i + 1}`]));
    const tree = parseImageTree(
      {
        ...tag(`${base}/3.9`),
        'images/_aliases/python': image,
        'images/_aliases/python3': 'python',
        'images/_aliases/py': 'python3',
        'images/_aliases/loop-a': 'loop-b',
        'images/_aliases/loop-b': 'loop-a',
        'images/_aliases/gone': 'cr.backend.ai/stable/r:4.0',
        'images/_aliases/via-gone': 'gone',
        'images/_aliases/short': 'deep1',
        ...chain,
      },
      REGISTRIES,
    );
    const rows = Object.fromEntries(tree.aliases.map((a) => [a.alias, a.image]));
    // deep1 … deep7 is seven aliases in a row: 21.09 still resolves it; deep0 (and short → deep1) add an eighth.
    expect(rows).toEqual({ python: image, python3: image, py: image, ...Object.fromEntries(Array.from({ length: ALIAS_LOOKUPS - 1 }, (_, i) => [`deep${i + 1}`, image])) });
    expect(tree.aliases.find((a) => a.alias === 'py')!.chain).toEqual(['py', 'python3', 'python']);
    const unusable = Object.fromEntries(tree.unusable.map((u) => [u.name, u.reason]));
    expect(Object.keys(unusable).sort()).toEqual(['deep0', 'loop-a', 'loop-b', 'short']);
    expect(unusable['loop-a']).toBe('the aliases form a loop (images/_aliases/loop-a → images/_aliases/loop-b → images/_aliases/loop-a): 21.09 cannot resolve it');
    expect(unusable.deep0).toMatch(/takes 8 or more look-ups/);
    expect(tree.dangling.map((d) => [d.alias, d.target])).toEqual([
      ['gone', 'cr.backend.ai/stable/r:4.0'],
      ['via-gone', 'cr.backend.ai/stable/r:4.0'],
    ]);
    expect(tree.dangling[1]!.reason).toBe('points at cr.backend.ai/stable/r:4.0 (via gone), which etcd has no image for');
    expect(tree.aliasKeys).toBe(8 + ALIAS_LOOKUPS);
  });

  it('an alias of an unusable image is not imported either, and of two keys for one name the verbatim one wins', () => {
    const tree = parseImageTree(
      {
        'images/cr.backend.ai/img/1.0': 'sha256:no-resource',
        'images/_aliases/img': 'cr.backend.ai/img:1.0',
        ...tag(`${base}/3.9`),
        ...tag(`${base}/3.8`),
        'images/_aliases/py%3A3': 'cr.backend.ai/stable/python:3.8',
        'images/_aliases/py:3': 'cr.backend.ai/stable/python:3.9',
      },
      REGISTRIES,
    );
    expect(tree.aliases.map((a) => [a.key, a.image])).toEqual([['images/_aliases/py:3', 'cr.backend.ai/stable/python:3.9']]);
    expect(tree.unusable.map((u) => u.key).sort()).toEqual(['images/_aliases/img', 'images/_aliases/py%3A3', 'images/cr.backend.ai/img/1.0/resource']);
  });
});

describe('image references as 21.09 parses them', () => {
  const known = new Set(['cr.backend.ai']);
  it.each([
    ['cr.backend.ai/stable/python:3.9', 'cr.backend.ai/stable/python:3.9'],
    ['python', 'index.docker.io/lablup/python:latest'],
    ['lablup/python:3.6', 'index.docker.io/lablup/python:3.6'],
    ['index.docker.io/python:3.6', 'index.docker.io/lablup/python:3.6'],
    ['10.0.0.5:5000/team/app:1', '10.0.0.5:5000/team/app:1'],
    ['unknown.example/team/app:1', 'index.docker.io/unknown.example/team/app:1'],
  ])('%s is %s', (value, canonical) => {
    expect(canonicalImageRef(value, known)).toEqual({ name: canonical });
  });

  it('refuses a scheme and a bad tag', () => {
    expect(canonicalImageRef('https://cr.backend.ai/x:1', known)).toHaveProperty('error');
    expect(canonicalImageRef('cr.backend.ai/x:bad tag', known)).toHaveProperty('error');
  });
});
