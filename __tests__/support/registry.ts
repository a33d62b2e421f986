/**
 * A real Docker registry on the loopback for the manager's image rescan: Debian's docker-registry
 * (distribution 2.8, in the test bed's image) with host networking, or the official registry:2
 * where Docker Hub is reachable. Images are built by the Docker engine from a one-file context
 * with Backend.AI's kernel labels and pushed with `docker push`, as an operator publishes theirs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, LOCAL_IMAGE, localImageAvailable } from './testbed.js';

const execFileAsync = promisify(execFile);

export interface TestRegistry {
  /** http://127.0.0.1:PORT, what etcd's config/docker/registry/<name> holds. */
  readonly url: string;
  /** 127.0.0.1:PORT, the prefix `docker push` takes. */
  readonly address: string;
  stop(): Promise<void>;
}

/** No authentication, storage in the container: a registry that lives as long as its test file. */
function registryConfig(addr: string): string {
  return `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: /tmp/registry\nhttp:\n  addr: ${addr}\n`;
}

export async function startRegistry(): Promise<TestRegistry> {
  const local = localImageAvailable();
  const { GenericContainer, Wait } = await import('testcontainers');
  const port = local ? await freePort() : 5000;
  const addr = local ? `127.0.0.1:${port}` : `0.0.0.0:${port}`;
  let container = new GenericContainer(local ? LOCAL_IMAGE : 'registry:2')
    .withCopyContentToContainer([{ content: registryConfig(addr), target: '/etc/bai-registry.yml' }])
    .withEntrypoint([local ? 'docker-registry' : 'registry'])
    .withCommand(['serve', '/etc/bai-registry.yml'])
    .withWaitStrategy(Wait.forLogMessage(/listening on/));
  container = local ? container.withNetworkMode('host') : container.withExposedPorts(port);
  const started = await container.start();
  const mapped = local ? port : started.getMappedPort(port);
  return {
    url: `http://127.0.0.1:${mapped}`,
    address: `127.0.0.1:${mapped}`,
    stop: async () => void (await started.stop({ timeout: 2_000 })),
  };
}

export interface KernelImage {
  /** Repository in the registry, e.g. stable/python. */
  readonly repository: string;
  readonly tag: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Builds a one-layer image with the labels and pushes it; returns the config digest the registry serves. */
export async function pushImage(registry: TestRegistry, image: KernelImage): Promise<string> {
  const context = mkdtempSync(join(tmpdir(), 'bai-kernel-image-'));
  writeFileSync(join(context, 'README'), `${image.repository}:${image.tag}\n`);
  const labels = Object.entries(image.labels).map(([name, value]) => `LABEL ${JSON.stringify(name)}=${JSON.stringify(value)}\n`);
  writeFileSync(join(context, 'Dockerfile'), `FROM scratch\nCOPY README /README\n${labels.join('')}`);
  const reference = `${registry.address}/${image.repository}:${image.tag}`;
  // The legacy builder: the test bed's engine has no BuildKit, and FROM scratch needs no base image.
  const { stdout } = await execFileAsync('docker', ['build', '-q', '--network', 'host', '-t', reference, context], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  await execFileAsync('docker', ['push', '-q', reference]);
  await execFileAsync('docker', ['rmi', reference]);
  return stdout.trim();
}
