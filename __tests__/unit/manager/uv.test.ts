import { describe, expect, it } from 'vitest';
import { parsePipConfig, pipArgsForUv, uvCacheDir, uvCannotInstall, uvSettingsFromPip } from '../../../src/manager/uv.js';
import { childEnv } from '../../../src/manager/child-env.js';
import { MANAGER_PYTHON } from '../../../src/releases/manager-python.js';

describe('uv for manager venvs', () => {
  it('reads pip config list: the environment over the install section over the global one', () => {
    const listing = [
      "global.index-url='https://global.example/simple'",
      "install.index-url='https://install.example/simple'",
      ":env:.find-links='/opt/wheels /srv/more'",
      "global.cert='/etc/ssl/certs/ca-certificates.crt'",
      ":env:.default-timeout='180'",
      'site.whatever="x"',
      'not a setting',
    ].join('\n');
    expect(Object.fromEntries(parsePipConfig(listing))).toEqual({
      'index-url': 'https://install.example/simple',
      'find-links': '/opt/wheels /srv/more',
      cert: '/etc/ssl/certs/ca-certificates.crt',
      'default-timeout': '180',
    });
  });

  it("hands pip's index settings to uv under uv's names, leaving what the run already sets for uv", () => {
    const pip = new Map([
      ['index-url', 'https://u:p@mirror.example/simple'],
      ['extra-index-url', 'https://a.example/simple https://b.example/simple'],
      ['find-links', '/opt/wheels /srv/more'],
      ['trusted-host', 'mirror.example'],
      ['default-timeout', '180'],
      ['cert', '/etc/ca.pem'],
      ['no-index', 'true'],
    ]);
    expect(uvSettingsFromPip(pip, {})).toEqual({
      env: {
        UV_DEFAULT_INDEX: 'https://u:p@mirror.example/simple',
        UV_INDEX: 'https://a.example/simple https://b.example/simple',
        UV_INDEX_STRATEGY: 'unsafe-best-match',
        UV_FIND_LINKS: '/opt/wheels,/srv/more',
        UV_INSECURE_HOST: 'mirror.example',
        UV_HTTP_TIMEOUT: '180',
        SSL_CERT_FILE: '/etc/ca.pem',
      },
      args: ['--no-index'],
    });
    expect(uvSettingsFromPip(pip, { UV_DEFAULT_INDEX: 'https://own.example/simple', SSL_CERT_FILE: '/etc/own.pem' }).env).not.toHaveProperty('UV_DEFAULT_INDEX');
    expect(uvSettingsFromPip(new Map(), {})).toEqual({ env: {}, args: [] });
  });

  it('spells pip-args the uv way, and names the first one uv has no equivalent for', () => {
    expect(pipArgsForUv(['--index-url=https://m.example/simple', '--extra-index-url', 'https://x.example/simple', '--no-build-isolation', '--trusted-host', 'm.example', '--pre'])).toEqual({
      uv: ['--index-url', 'https://m.example/simple', '--extra-index-url', 'https://x.example/simple', '--no-build-isolation', '--allow-insecure-host', 'm.example', '--prerelease', 'allow'],
      index: ['--index-url', 'https://m.example/simple', '--extra-index-url', 'https://x.example/simple', '--trusted-host', 'm.example'],
      extraIndex: true,
    });
    expect(pipArgsForUv(['--no-index', '-f', '/w'])).toEqual({ uv: ['--no-index', '--find-links', '/w'], index: ['--no-index', '-f', '/w'], extraIndex: false });
    expect(pipArgsForUv(['--no-index', '--use-deprecated=legacy-resolver'])).toEqual({ unsupported: '--use-deprecated=legacy-resolver' });
    expect(pipArgsForUv(['--find-links'])).toEqual({ unsupported: '--find-links' });
  });

  it('keeps pip for the releases whose pip arguments uv lacks: 22.03.4–14 and 22.09', () => {
    const withPip = MANAGER_PYTHON.filter((entry) => uvCannotInstall(entry.pipArgs)).map((entry) => `${entry.line}.${entry.patches.join('–')}`);
    expect(withPip).toEqual(['22.03.4–14', '22.09.0–23']);
    expect(uvCannotInstall(['--ignore-requires-python'])).toBe('uv has no --ignore-requires-python (it always enforces Requires-Python)');
  });

  it("uv's cache: UV_CACHE_DIR when set, else beside the venvs; uv's environment has UV_* and no PIP_*", () => {
    expect(uvCacheDir('/srv/venvs', {})).toBe('/srv/venvs/.uv/cache');
    expect(uvCacheDir('/srv/venvs', { UV_CACHE_DIR: '/var/cache/uv' })).toBe('/var/cache/uv');
    const env = childEnv('uv', {}, { PATH: '/bin', PIP_INDEX_URL: 'https://secret@x', UV_CACHE_DIR: '/c', 'INPUT_POSTGRES-URL': 'postgresql://pw', HTTPS_PROXY: 'http://proxy' });
    expect(env).toEqual({ PATH: '/bin', UV_CACHE_DIR: '/c', HTTPS_PROXY: 'http://proxy' });
  });
});
