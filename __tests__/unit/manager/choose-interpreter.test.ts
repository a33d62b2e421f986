/**
 * manager-venv's interpreter per release, chosen from src/releases/manager-python.ts among the
 * real interpreters on PATH (here a folder holding only Debian's python3, 3.11) and pyenv's (here a
 * pyenv folder of the test's own, empty unless a test puts Debian's interpreter in it).
 */
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseInterpreter } from '../../../src/manager/venv.js';

describe('the interpreter a manager venv is made with', () => {
  const path = process.env.PATH;
  const pyenvRoot = process.env.PYENV_ROOT;
  beforeAll(() => {
    const bin = mkdtempSync(join(tmpdir(), 'bai-migrate-pythons-'));
    symlinkSync('/usr/bin/python3', join(bin, 'python3'));
    process.env.PATH = bin;
    process.env.PYENV_ROOT = mkdtempSync(join(tmpdir(), 'bai-migrate-pyenv-'));
  });
  afterAll(() => {
    process.env.PATH = path;
    if (pyenvRoot === undefined) delete process.env.PYENV_ROOT;
    else process.env.PYENV_ROOT = pyenvRoot;
  });

  it("is the python input when given, with the release's constraints", async () => {
    expect(await chooseInterpreter('/opt/python3.9/bin/python3', '21.09.9')).toEqual({ python: '/opt/python3.9/bin/python3', pipArgs: [], constraints: ['Cython<3', 'protobuf<4'] });
  });

  it("given, and the Python the release is known to run on, it gets the release's pip arguments too", async () => {
    expect(await chooseInterpreter('/usr/bin/python3', '22.09.23')).toEqual({
      python: '/usr/bin/python3',
      pipArgs: ['--ignore-requires-python'],
      constraints: [],
      why: '22.09.23 installs on Python 3.11',
    });
  });

  it('is the one the release installs on, found on PATH', async () => {
    expect(await chooseInterpreter(undefined, '23.03.12')).toMatchObject({ python: 'python3', why: '23.03.12 installs on Python 3.11' });
    // 22.09 demands 3.10 but installs and runs on 3.11 when pip is told to ignore that.
    expect(await chooseInterpreter(undefined, '22.09.23')).toMatchObject({ python: 'python3', pipArgs: ['--ignore-requires-python'] });
  });

  it('is refused, naming the Python it needs and what PATH has, when none fits', async () => {
    await expect(chooseInterpreter(undefined, '21.09.9')).rejects.toThrow(
      /backend\.ai-manager 21\.09\.9 needs Python 3\.9 .*; on PATH python3 is 3\.11\.\d+\. Set python to a Python 3\.9 interpreter/,
    );
    await expect(chooseInterpreter(undefined, '22.03.14')).rejects.toThrow(/needs Python 3\.10 \(.+\); on PATH python3 is 3\.11\.\d+\. Set python to a Python 3\.10 interpreter/);
  });

  it('given as a list, each release takes the interpreter of its own Python', async () => {
    const list = '/usr/bin/python3.11, /usr/bin/python3';
    expect(await chooseInterpreter(list, '23.03.12')).toMatchObject({ python: '/usr/bin/python3.11', why: '23.03.12 installs on Python 3.11' });
    await expect(chooseInterpreter(list, '24.03.11')).rejects.toThrow(
      /python lists \/usr\/bin\/python3\.11 \(3\.11\.\d+\), \/usr\/bin\/python3 \(3\.11\.\d+\), but backend\.ai-manager 24\.03\.11 needs Python 3\.12; accepted: one interpreter, or one per Python/,
    );
    await expect(chooseInterpreter('/usr/bin/python3.11,/nonexistent/python3.12', '24.03.11')).rejects.toThrow(/\/nonexistent\/python3\.12 \(cannot be run\)/);
  });

  it("finds pyenv's interpreters of the Python a release needs, newest patch first, where pyenv's shims would not run them", async () => {
    const root = process.env.PYENV_ROOT!;
    for (const patch of ['3.11.1', '3.11.12', '3.1.5']) {
      mkdirSync(join(root, 'versions', patch, 'bin'), { recursive: true });
      symlinkSync('/usr/bin/python3.11', join(root, 'versions', patch, 'bin', patch === '3.1.5' ? 'python3.1' : 'python3.11'));
    }
    process.env.PATH = mkdtempSync(join(tmpdir(), 'bai-migrate-no-pythons-'));
    try {
      expect(await chooseInterpreter(undefined, '23.09.10')).toMatchObject({ python: join(root, 'versions', '3.11.12', 'bin', 'python3.11'), why: '23.09.10 installs on Python 3.11' });
    } finally {
      process.env.PATH = path;
    }
  });
});
