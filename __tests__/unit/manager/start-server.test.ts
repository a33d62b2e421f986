import { describe, expect, it } from 'vitest';
import { managerTomlCopy } from '../../../src/manager/start-server.js';
import { parseToml } from '../../../src/manager/toml.js';
import { managerStartFacts } from '../../../src/releases/manager-start.js';

const base = {
  text: '[manager]\nnum-proc = 4\ninternal-addr = { host = "0.0.0.0", port = 18080 }\n',
  postgres: { host: '127.0.0.1', port: 5432, database: 'db', user: 'u' },
  etcd: { host: '127.0.0.1', port: 2379, namespace: 'ns' },
  dir: '/tmp/x',
  servicePort: 40001,
  aiomonitor: { 'aiomonitor-termui-port': 40002 },
  managerId: 'copy',
};

describe('the manager.toml a copy starts with', () => {
  it("binds the release's other listeners to loopback on the given ports, and leaves a key the release does not listen on as it was", () => {
    const moved = parseToml(managerTomlCopy({ ...base, listeners: { 'internal-addr': 40003 } })).manager as Record<string, unknown>;
    expect(moved['internal-addr']).toEqual({ host: '127.0.0.1', port: 40003 });
    expect(moved['service-addr']).toEqual({ host: '127.0.0.1', port: 40001 });
    const kept = parseToml(managerTomlCopy(base)).manager as Record<string, unknown>;
    expect(kept['internal-addr']).toEqual({ host: '0.0.0.0', port: 18080 });
  });

  it('knows internal-addr as a listener from 25.5 on', () => {
    expect(managerStartFacts('25.4.0')!.listenerKeys).toEqual([]);
    expect(managerStartFacts('25.5.2')!.listenerKeys).toEqual(['internal-addr']);
    expect(managerStartFacts('25.6.17')!.listenerKeys).toEqual(['internal-addr']);
  });
});
