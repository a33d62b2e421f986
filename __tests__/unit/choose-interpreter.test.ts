/**
 * manager-venv's interpreter per release, chosen from src/releases/manager-python.ts among the
 * real interpreters on PATH (here a folder holding only Debian's python3, 3.11).
 */
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseInterpreter } from '../../src/manager/venv.js';

describe('the interpreter a manager venv is made with', () => {
  const path = process.env.PATH;
  beforeAll(() => {
    const bin = mkdtempSync(join(tmpdir(), 'bai-migrate-pythons-'));
    symlinkSync('/usr/bin/python3', join(bin, 'python3'));
    process.env.PATH = bin;
  });
  afterAll(() => {
    process.env.PATH = path;
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
});
