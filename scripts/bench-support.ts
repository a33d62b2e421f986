/** What every benchmark prints beside its figures: the machine, the versions, and each ratio as one machine-readable line. */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

/** "2 × Intel(R) Xeon(R) …, 24 GiB, Node v24…, PostgreSQL …": what the figures were measured on. */
export function benchMachine(extra: string[] = []): string {
  const cpu = cpus();
  const debian = (() => {
    try {
      return `Debian ${execFileSync('cat', ['/etc/debian_version'], { encoding: 'utf8' }).trim()}`;
    } catch {
      return process.platform;
    }
  })();
  return [`machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${debian}, Node ${process.version}`, ...extra].join('\n');
}

/** `ratio NAME VALUE`: lower is better; `note` goes on the line before, for people. */
export function printRatio(name: string, value: number, note: string): void {
  console.log(`  ${note}`);
  console.log(`ratio ${name} ${value.toFixed(2)}`);
}
