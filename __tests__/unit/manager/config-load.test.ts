import { describe, expect, it } from 'vitest';
import { namesAbsentPath, refusedKeys } from '../../../src/manager/config-load.js';

describe("a release loader's refusal", () => {
  it('names every refused key by its dotted path in manager.toml', () => {
    // The shape trafaret's DataError.as_dict() gives (backend.ai@24.12.1:src/ai/backend/common/config.py, check).
    expect(refusedKeys({ manager: { 'heartbeat-timeout': 'value is less than 1.0', 'service-addr': { port: "value can't be converted to int" } }, db: 'is required' })).toEqual([
      { key: 'manager.heartbeat-timeout', reason: 'value is less than 1.0' },
      { key: 'manager.service-addr.port', reason: "value can't be converted to int" },
      { key: 'db', reason: 'is required' },
    ]);
    expect(refusedKeys('value is not a dict')).toEqual([{ key: '(the file)', reason: 'value is not a dict' }]);
  });

  it('tells a path the runner lacks from a value the loader refuses', () => {
    expect(namesAbsentPath({ key: 'manager.rpc-auth-manager-keypair', reason: 'value is not a regular file' })).toBe(true);
    expect(namesAbsentPath({ key: 'manager.ipc-base-path', reason: 'value is not a directory' })).toBe(true);
    expect(namesAbsentPath({ key: 'manager.heartbeat-timeout', reason: 'value is less than 1.0' })).toBe(false);
  });
});
