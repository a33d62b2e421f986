/**
 * 25.2 → 25.3's aiomonitor-ports check with a real manager.toml on disk: 25.3.0 moved the manager's
 * default aiomonitor ports from 48100/49100 to 38100/39100 (backend.ai@25.2.0 and
 * @25.3.3:configs/manager/sample.toml), so a file that leaves them unset gets the new ones.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aiomonitorPorts } from '../../../src/hops/25.2-25.3/aiomonitor-ports.js';
import { parseToml } from '../../../src/manager/toml.js';
import type { StepContext } from '../../../src/steps/step.js';

function context(text: string | undefined): { ctx: StepContext; path?: string } {
  if (text === undefined) return { ctx: { deployment: { targets: {} } } as unknown as StepContext };
  const path = join(mkdtempSync(join(tmpdir(), 'bai-aiomonitor-')), 'manager.toml');
  writeFileSync(path, text);
  return { ctx: { deployment: { targets: { managerConfig: { path, text, table: parseToml(text) } } } } as unknown as StepContext, path };
}

describe('aiomonitor-ports', () => {
  it('names the new default for each port manager.toml leaves unset', async () => {
    const { ctx, path } = context('[manager]\nnum-proc = 4\n# aiomonitor-termui-port = 48100\n');
    expect(await aiomonitorPorts.preflight!(ctx)).toEqual([
      {
        status: 'ok',
        detail: `${path} does not set [manager] aiomonitor-termui-port: 25.3's manager listens on 38100 (plus the process index) where 24.12 to 25.2 listened on 48100; set aiomonitor-termui-port = 48100 to keep the old port`,
      },
      {
        status: 'ok',
        detail: `${path} does not set [manager] aiomonitor-webui-port: 25.3's manager listens on 39100 (plus the process index) where 24.12 to 25.2 listened on 49100; set aiomonitor-webui-port = 49100 to keep the old port`,
      },
    ]);
  });

  it('keeps what the file sets, under either name of the termui port', async () => {
    const { ctx, path } = context('[manager]\naiomonitor-port = 48100\naiomonitor-webui-port = 49200\n');
    expect((await aiomonitorPorts.preflight!(ctx)).map((f) => f.detail)).toEqual([
      `${path} sets [manager] aiomonitor-port = 48100: 25.3 keeps it`,
      `${path} sets [manager] aiomonitor-webui-port = 49200: 25.3 keeps it`,
    ]);
  });

  it('says so when there is no manager.toml to read', async () => {
    expect(await aiomonitorPorts.preflight!(context(undefined).ctx)).toEqual([{ status: 'skipped', detail: 'no manager.toml was given or found: its aiomonitor ports are not read' }]);
  });
});
