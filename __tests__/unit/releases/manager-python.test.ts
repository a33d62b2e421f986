import { describe, expect, it } from 'vitest';
import { RELEASES } from '../../../src/releases/catalogue.js';
import { MANAGER_PYTHON, managerPythonFor, pypiVersion } from '../../../src/releases/manager-python.js';
import { INSTALL_RESULTS, TEST_BED_PYTHONS, testBedPython } from '../../support/test-bed-pythons.js';

describe('manager-python data', () => {
  it('has one entry per line and patch range, without overlaps, each consistent with its results', () => {
    for (const entry of MANAGER_PYTHON) {
      const [first, last] = entry.patches;
      expect(first).toBeLessThanOrEqual(last);
      expect(Number(entry.tried.split('.')[2])).toBe(last);
      const results = INSTALL_RESULTS[entry.tried] ?? [];
      expect(results.length).toBeGreaterThan(0);
      for (const result of results) expect(TEST_BED_PYTHONS).toContain(result.python);
      if (entry.python === null) {
        // Nothing fits: a reason, and no attempt that ran alembic.
        expect(entry.reason).toMatch(/need|demand/);
        expect(results.every((r) => !r.alembic)).toBe(true);
        expect(entry.head).toBeNull();
      } else {
        const chosen = results[0]!;
        // An interpreter of the entry's X.Y: the test bed's image, or the machine's pyenv build that bai-migrate's own venvs use.
        expect(chosen.python.startsWith(`${entry.python}-`), `${entry.tried} was tried on ${chosen.python}`).toBe(true);
        expect(chosen).toMatchObject({ installs: true, alembic: true, cli: true });
        expect(entry.head).toMatch(/^[0-9a-z]{12}$/); // not always hex: 25.19 has 6f8a4c0d2e3g
        expect(chosen.coldSeconds ?? chosen.warmSeconds).toBeGreaterThan(0);
        expect(chosen.venvMegabytes).toBeGreaterThan(100);
      }
      const others = MANAGER_PYTHON.filter((e) => e !== entry && e.line === entry.line);
      for (const other of others) expect(other.patches[0] > last || other.patches[1] < first).toBe(true);
    }
  });

  it('agrees with the catalogue on the heads both know', () => {
    const entry = MANAGER_PYTHON.find((e) => e.line === '21.09')!;
    expect(entry.head).toBe(RELEASES.find((r) => r.version === '21.09.9')?.head);
  });
});

describe('managerPythonFor', () => {
  it('installs sniffio beside the lines whose valkey-glide imports it undeclared, and names why', () => {
    for (const line of ['25.11', '25.12', '25.13', '25.14', '25.16', '25.17']) {
      const choice = managerPythonFor(line);
      expect(choice).toMatchObject({ fits: true, python: '3.13', alsoInstall: ['sniffio'] });
      if (choice.fits) expect(choice.entry.alsoInstallSource).toMatch(/valkey-glide 2\.0\.1 .*imports sniffio without requiring it/);
    }
    for (const line of ['25.15', '25.18', '25.19', '25.6']) expect(managerPythonFor(line)).toMatchObject({ fits: true, alsoInstall: [] });
  });

  it('installs 21.09 on bullseye with the MGR-era constraints', () => {
    const choice = managerPythonFor('21.09.9');
    expect(choice).toMatchObject({ fits: true, requirement: 'backend.ai-manager==21.9.9', python: '3.9' });
    expect(testBedPython('3.9')).toBe('3.9-bullseye');
    expect(INSTALL_RESULTS['21.09.9']![0]).toMatchObject({ python: '3.9-bullseye', alembic: true, cli: true });
    if (choice.fits) expect(choice.constraints).toEqual(['Cython<3', 'protobuf<4']);
    expect(managerPythonFor('21.09')).toMatchObject({ fits: true, version: '21.09.9' });
  });

  it('puts 3.10-only 22.09 on 3.11 with --ignore-requires-python, and 25.x on trixie', () => {
    expect(managerPythonFor('22.09.23')).toMatchObject({ fits: true, python: '3.11', pipArgs: ['--ignore-requires-python'] });
    expect(managerPythonFor('25.15')).toMatchObject({ fits: true, requirement: 'backend.ai-manager==25.15.12', python: '3.13', pipArgs: [] });
    expect(managerPythonFor('26.8.1')).toMatchObject({ fits: true, python: '3.13' });
    // The releases after 26.8.1 install the same way, on 3.13, each line's latest tried.
    expect(managerPythonFor('26.9')).toMatchObject({ fits: true, version: '26.9.6', requirement: 'backend.ai-manager==26.9.6', python: '3.13', alsoInstall: [] });
    expect(managerPythonFor('26.9.0')).toMatchObject({ fits: true, python: '3.13' });
    expect(managerPythonFor('26.4')).toMatchObject({ fits: true, version: '26.4.16', python: '3.13' });
    expect(managerPythonFor('26.4.12')).toMatchObject({ fits: true, python: '3.13', entry: { tried: '26.4.16' } });
    expect(managerPythonFor('26.4.10')).toMatchObject({ fits: true, entry: { tried: '26.4.10' } });
    expect(managerPythonFor('26.8.2')).toMatchObject({ fits: true, entry: { tried: '26.8.3' } });
    for (const tried of ['26.4.16', '26.8.3', '26.9.6']) {
      const choice = managerPythonFor(tried);
      expect(choice.entry?.head).toBe(RELEASES.find((r) => r.version === tried)?.head);
      expect(choice.entry?.requiresPython).toBe(RELEASES.find((r) => r.version === tried)?.pythonRequires);
    }
    expect([testBedPython('3.11'), testBedPython('3.13')]).toEqual(['3.11-bookworm', '3.13-trixie']);
  });

  it('puts 22.03 and the 3.12 lines on pyenv’s 3.10 and 3.12: 22.03.14 past its exact ==3.10.5 with the lock file’s aiohttp-sse', () => {
    const early = managerPythonFor('22.03.3');
    const late = managerPythonFor('22.03.14');
    expect(early).toMatchObject({ fits: true, python: '3.10', pipArgs: [], constraints: ['Cython<3', 'protobuf<4'] });
    expect(late).toMatchObject({ fits: true, python: '3.10', pipArgs: ['--ignore-requires-python'], constraints: ['aiohttp-sse==2.1'] });
    expect([testBedPython('3.10'), testBedPython('3.12')]).toEqual(['3.10-pyenv', '3.12-pyenv']);
    // The 3.11 attempt stays on record with why it cannot run.
    expect(INSTALL_RESULTS[late.entry!.tried]?.find((r) => r.python === '3.11-bookworm')?.failure).toMatch(/aioredis/);
    for (const line of ['24.03', '24.09', '24.12', '25.1', '25.2', '25.3', '25.5']) {
      const choice = managerPythonFor(line);
      expect(choice).toMatchObject({ fits: true, python: '3.12', pipArgs: [] });
      expect(choice.entry?.head).toBe(RELEASES.find((r) => r.version === choice.version)?.head);
    }
  });

  it('refuses what was not tried and what is not a version', () => {
    const untried = managerPythonFor('21.03.0');
    expect(untried.fits).toBe(false);
    if (!untried.fits) expect(untried.reason).toMatch(/21\.03\.0 is outside the patches tried for line 21\.03 \(1–32\)/);
    expect(managerPythonFor('21.03')).toMatchObject({ fits: true, version: '21.03.32', python: '3.9', constraints: ['Cython<3', 'protobuf<4'] });
    const beyond = managerPythonFor('26.9.7');
    if (!beyond.fits) expect(beyond.reason).toMatch(/26\.9\.7 is outside the patches tried for line 26\.9 \(0–6\)/);
    expect(beyond.fits).toBe(false);
    const untriedLine = managerPythonFor('26.7');
    if (!untriedLine.fits) expect(untriedLine.reason).toMatch(/release line 26\.7 was not tried/);
    expect(untriedLine.fits).toBe(false);
    expect(() => managerPythonFor('latest')).toThrow(/not a Backend.AI version/);
    expect(pypiVersion('22.03.14')).toBe('22.3.14');
    expect(pypiVersion('25.15.12')).toBe('25.15.12');
    expect(() => pypiVersion('22.03')).toThrow(/not a full version/);
  });
});
