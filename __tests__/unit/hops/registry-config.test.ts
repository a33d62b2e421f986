/** etcd config/docker/registry as 24.09's 1d42c726d8a3 reads it: the rows it makes and what it stops on. */
import { describe, expect, it } from 'vitest';
import { parseRegistries, registryProblems, registryRows, simulateRegistryMove } from '../../../src/hops/24.03-24.09/registry-config.js';

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

describe('what 1d42c726d8a3 makes of the registries and the images, phase by phase', () => {
  const rowsOf = (move: ReturnType<typeof simulateRegistryMove>) => move.rows.map((r) => [r.name, r.project, r.type, r.automatic, r.images]);

  it('links each image to its registry and project, makes a row without credentials for a project no registry lists, and always a local row', () => {
    const registries = parseRegistries({
      [`${P}registry.example.com`]: 'https://registry.example.com',
      [`${P}registry.example.com/type`]: 'harbor2',
      [`${P}registry.example.com/project`]: 'ml',
    });
    const move = simulateRegistryMove(registries, ['registry.example.com/ml/a:1', 'registry.example.com/research/b:1', 'registry.example.com/research/c:2', 'python:3.9']);
    expect(move.stopsOnLocalRows).toBeUndefined();
    expect(rowsOf(move)).toEqual([
      ['registry.example.com', 'ml', 'harbor2', false, ['registry.example.com/ml/a:1']],
      ['registry.example.com', 'research', 'harbor2', true, ['registry.example.com/research/b:1', 'registry.example.com/research/c:2']],
      ['local', null, 'local', true, ['python:3.9']],
    ]);
    expect(move.localDespiteRegistry).toEqual([]);
  });

  it('stops when images are named after a local registry with a path under it: a second local row, then MultipleResultsFound', () => {
    const registries = parseRegistries({ [`${P}local`]: 'http://localhost', [`${P}local/type`]: 'local' });
    const move = simulateRegistryMove(registries, ['local/team/trainer:1', 'local/team/trainer:2']);
    expect(move.stopsOnLocalRows?.map((r) => [r.name, r.project, r.automatic, r.images.length])).toEqual([
      ['local', null, false, 0],
      ['local', 'team', true, 2],
    ]);
    // Without the etcd entry, the revision makes the one local row itself and marks the images local.
    expect(rowsOf(simulateRegistryMove([], ['local/team/trainer:1']))).toEqual([['local', null, 'local', true, ['local/team/trainer:1']]]);
  });

  it('makes one row per project name across all registries: an image of another registry with the same project ends up local', () => {
    const registries = parseRegistries({
      [`${P}a.example.com`]: 'https://a.example.com',
      [`${P}a.example.com/project`]: 'x',
      [`${P}b.example.com`]: 'https://b.example.com',
      [`${P}b.example.com/project`]: 'y',
    });
    const move = simulateRegistryMove(registries, ['a.example.com/shared/one:1', 'b.example.com/shared/two:1']);
    expect(rowsOf(move).filter(([, , , automatic]) => automatic)).toEqual([
      ['a.example.com', 'shared', 'docker', true, ['a.example.com/shared/one:1']],
      ['local', null, 'local', true, ['b.example.com/shared/two:1']],
    ]);
    expect(move.localDespiteRegistry).toEqual(['b.example.com/shared/two:1']);
  });

  it('matches prefixes as SQL LIKE does, unescaped: "_" stands for any character, and a project is a prefix of longer ones', () => {
    const registries = parseRegistries({ [`${P}r.example.com`]: 'https://r.example.com', [`${P}r.example.com/project`]: 'my_proj,ml' });
    const move = simulateRegistryMove(registries, ['r.example.com/myXproj/a:1', 'r.example.com/mlops/b:1']);
    expect(rowsOf(move).slice(0, 2)).toEqual([
      ['r.example.com', 'my_proj', 'docker', false, ['r.example.com/myXproj/a:1']],
      ['r.example.com', 'ml', 'docker', false, ['r.example.com/mlops/b:1']],
    ]);
  });
});
