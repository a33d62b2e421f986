/**
 * 25.3.0 moves the default aiomonitor ports of every component out of the ephemeral range: the
 * manager's from 48100 (termui) and 49100 (webui) to 38100 and 39100, each plus the process index
 * (backend.ai@25.2.0 and @25.3.3:src/ai/backend/manager/config.py, `aiomonitor-termui-port` with
 * its alias `aiomonitor-port`, and `aiomonitor-webui-port`; configs/manager/sample.toml). A
 * manager.toml that sets them keeps its ports; one that does not gets the new ones after this hop,
 * which matters to firewall rules and to whatever connects to aiomonitor. The agents' (48200 →
 * 38200) and storage proxies' (48300 → 38300) defaults move the same way in their own files
 * (backend.ai@25.3.3:configs/agent/sample.toml, configs/storage-proxy/sample.toml), which
 * bai-migrate does not read.
 */
import { ok, skipped, type Step } from '../../steps/step.js';

/** Each setting: its names in [manager] (the first is the one the sample uses), and its default before and from 25.3. */
export const AIOMONITOR_PORTS = [
  { names: ['aiomonitor-termui-port', 'aiomonitor-port'], before: 48100, after: 38100 },
  { names: ['aiomonitor-webui-port'], before: 49100, after: 39100 },
] as const;

export const aiomonitorPorts: Step = {
  id: 'aiomonitor-ports',
  title: "aiomonitor's default ports move",
  kind: 'check',
  action:
    "Reads [manager]'s aiomonitor ports in manager.toml: where one is not set, says that 25.3's manager listens on the new default (38100 and 39100 instead of 48100 and 49100, plus the process index); changes nothing. Agents and storage proxies move theirs too (48200 → 38200, 48300 → 38300).",
  servers: [],

  async preflight({ deployment }) {
    const config = deployment.targets.managerConfig;
    if (!config) return [skipped('no manager.toml was given or found: its aiomonitor ports are not read')];
    const manager = config.table.manager;
    const section = typeof manager === 'object' && manager !== null && !Array.isArray(manager) ? (manager as Record<string, unknown>) : {};
    return AIOMONITOR_PORTS.map(({ names, before, after }) => {
      const set = names.find((name) => section[name] !== undefined);
      return set
        ? ok(`${config.path} sets [manager] ${set} = ${String(section[set])}: 25.3 keeps it`)
        : ok(
            `${config.path} does not set [manager] ${names[0]}: 25.3's manager listens on ${after} (plus the process index) where 24.12 to 25.2 listened on ${before}; set ${names[0]} = ${before} to keep the old port`,
          );
    });
  },
};
