/** etcd config/docker/registry as 24.09's 1d42c726d8a3 reads it: the rows it makes and what it stops on. */
import { describe, expect, it } from 'vitest';
import { parseRegistries, registryProblems, registryRows } from '../../src/hops/24.03-24.09/registry-config.js';

const P = 'config/docker/registry/';

describe('the registries 1d42c726d8a3 moves', () => {
  it('makes a row per project; Docker Hub without one gets "library", a local registry none', () => {
    const registries = parseRegistries({
      [`${P}index.docker.io`]: 'https://registry-1.docker.io',
      [`${P}cr.backend.ai`]: 'https://cr.backend.ai',
      [`${P}cr.backend.ai/type`]: 'harbor2',
      [`${P}cr.backend.ai/project`]: 'stable,community',
      [`${P}local`]: 'http://localhost',
      [`${P}local/type`]: 'local',
      // A quoted hostname (a port), as the manager's etcd client writes it.
      [`${P}10.0.0.5%3A5000`]: 'http://10.0.0.5:5000',
      [`${P}10.0.0.5%3A5000/project`]: 'team',
    });
    expect(registryProblems(registries)).toEqual([]);
    expect(registryRows(registries)).toEqual([
      { name: 'index.docker.io', project: 'library' },
      { name: 'cr.backend.ai', project: 'stable' },
      { name: 'cr.backend.ai', project: 'community' },
      { name: 'local', project: null },
      { name: '10.0.0.5:5000', project: 'team' },
    ]);
  });

  it.each([
    [{ [`${P}harbor.example.com`]: 'https://harbor.example.com' }, '/project', 'has no project'],
    [{ [`${P}harbor.example.com`]: 'https://harbor.example.com', [`${P}harbor.example.com/project`]: '' }, '/project', 'has no project'],
    // Docker Hub's exception holds for type docker only.
    [{ [`${P}index.docker.io`]: 'https://registry-1.docker.io', [`${P}index.docker.io/type`]: 'harbor' }, '/project', 'has no project'],
    [{ [`${P}h.example.com/project`]: 'p' }, '', 'has no URL'],
    [{ [`${P}h.example.com`]: 'h.example.com', [`${P}h.example.com/project`]: 'p' }, '', 'which is no URL'],
    [{ [`${P}h.example.com`]: 'https://h.example.com', [`${P}h.example.com/project`]: 'p', [`${P}h.example.com/type`]: 'quay' }, '/type', 'has type "quay"'],
    [{ [`${P}h.example.com`]: 'https://h.example.com', [`${P}h.example.com/project`]: 'a,' }, '/project', 'has an empty name'],
    [{ [`${P}h.example.com`]: 'https://h.example.com', [`${P}h.example.com/project`]: 'a, b' }, '/project', 'with spaces around it'],
    [{ [`${P}${'x'.repeat(51)}.io`]: 'https://x.io', [`${P}${'x'.repeat(51)}.io/project`]: 'p' }, '', 'has a name of 54 characters'],
  ])('refuses %j at its key %s: %s', (entries, suffix, reason) => {
    const problems = registryProblems(parseRegistries(entries));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.key).toBe(`${P}${problems[0]!.name}${suffix}`);
    expect(problems[0]!.reason).toContain(reason);
  });
});
