import { describe, expect, it } from 'vitest';
import { parseImageTree } from '../../src/steps/image-metadata.js';

const q = encodeURIComponent;

describe('etcd image tree (21.09 layout)', () => {
  it('reads digests, sizes, labels, resource limits, accelerators and aliases', () => {
    const base = `images/${q('cr.backend.ai')}/${q('stable/python')}`;
    const tree = parseImageTree({
      [base]: '1',
      [`${base}/3.9`]: 'sha256:abc',
      [`${base}/3.9/size_bytes`]: '1024',
      [`${base}/3.9/labels/ai.backend.role`]: 'system',
      [`${base}/3.9/labels/ai.backend.kernelspec`]: '1',
      [`${base}/3.9/accels`]: 'cuda',
      [`${base}/3.9/resource/cpu/min`]: '1',
      [`${base}/3.9/resource/cpu/max`]: '8',
      [`images/_aliases/${q('py:3')}`]: 'cr.backend.ai/stable/python:3.9',
    });
    expect(tree.problems).toEqual([]);
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
    expect(tree.aliases).toEqual([{ alias: 'py:3', target: 'cr.backend.ai/stable/python:3.9' }]);
  });

  it('names every key it cannot read', () => {
    const tree = parseImageTree({
      'images/reg/bad%E0%A4%A/1.0': 'sha256:x',
      'images/reg/img/2.0': 'sha256:y',
      'images/reg/img/2.0/size_bytes': 'big',
      'images/reg/img/3.0/size_bytes': '1',
      'images/_aliases/%ZZ': 'reg/img:2.0',
    });
    expect(tree.images).toEqual([]);
    expect(tree.problems.sort()).toEqual([
      'images/_aliases/%ZZ (bad URL quoting)',
      'images/reg/bad%E0%A4%A/1.0 (bad URL quoting)',
      'images/reg/img/2.0/size_bytes ("big" is not a number)',
      'images/reg/img/3.0 (no digest)',
    ]);
  });
});
