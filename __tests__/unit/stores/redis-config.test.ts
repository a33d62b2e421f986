/**
 * How bai-migrate reads the manager's Redis configuration from etcd config/redis/: the per-role
 * instances of override_configs (25.4+) and the TLS options of 25.13, as the manager does
 * (backend.ai@25.13.4 wheel ai/backend/common/configs/redis.py, RedisConfig).
 */
import { describe, expect, it } from 'vitest';
import { describeRedis, redisFromEtcd, redisInstanceKey, redisOverridesFromEtcd } from '../../../src/stores/redis.js';
import { redisFromUrl } from '../../../src/stores/connections.js';
import { redisLayoutOf } from '../../../src/releases/redis-roles.js';
import { findRelease } from '../../../src/releases/releases.js';

describe('Redis configuration in etcd', () => {
  it('reads use_tls and tls_skip_verify, in snake and kebab spelling, and refuses a value the manager does not read as a boolean', () => {
    const secrets: string[] = [];
    const keep = (s: string) => secrets.push(s);
    expect(redisFromEtcd({ 'config/redis/addr': '10.0.0.5:6380', 'config/redis/use_tls': 'true' }, keep)).toMatchObject({ host: '10.0.0.5', port: 6380, tls: { skipVerify: false } });
    expect(redisFromEtcd({ 'config/redis/addr': 'h:1', 'config/redis/use-tls': 'yes', 'config/redis/tls-skip-verify': '1' }, keep).tls).toEqual({ skipVerify: true });
    expect(redisFromEtcd({ 'config/redis/addr': 'h:1', 'config/redis/use_tls': 'false', 'config/redis/tls_skip_verify': 'true' }, keep).tls).toBeUndefined();
    expect(redisFromEtcd({ 'config/redis/addr': 'h:1' }, keep).tls).toBeUndefined();
    expect(() => redisFromEtcd({ 'config/redis/addr': 'h:1', 'config/redis/use_tls': 'sure' }, keep)).toThrow(
      'etcd config/redis/use_tls is "sure", which the manager does not read as a boolean; accepted: true or false',
    );
    expect(describeRedis(redisFromEtcd({ 'config/redis/addr': 'h:1', 'config/redis/use_tls': 'true' }, keep))).toBe('Redis at h:1 (from etcd config/redis/addr, TLS)');
    // rediss:// in redis-url is TLS too.
    expect(redisFromUrl('rediss://:pw@h:6390', 'redis-url').tls).toEqual({ skipVerify: false });
    expect(secrets).toEqual([]);
  });

  it('reads each role of override_configs as a whole target of its own (its own password, its own TLS), and hears of its secrets', () => {
    const secrets: string[] = [];
    const config = {
      'config/redis/addr': 'main:6379',
      'config/redis/password': 'main-pw',
      'config/redis/override_configs/container_log/addr': 'logs:6390',
      'config/redis/override_configs/container_log/password': 'logs-pw',
      'config/redis/override_configs/container_log/use_tls': 'true',
      'config/redis/override-configs/bgtask/sentinel': 's1:26379,s2:26380',
      'config/redis/override-configs/bgtask/service-name': 'tasks',
    };
    const overrides = redisOverridesFromEtcd(config, (s) => secrets.push(s));
    expect(overrides).toEqual({
      container_log: {
        kind: 'server',
        host: 'logs',
        port: 6390,
        username: undefined,
        password: 'logs-pw',
        tls: { skipVerify: false },
        source: 'etcd config/redis/override_configs/container_log/addr',
      },
      bgtask: {
        kind: 'sentinel',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26380 },
        ],
        serviceName: 'tasks',
        password: undefined,
        source: 'etcd config/redis/override-configs/bgtask/sentinel',
      },
    });
    expect(secrets).toContain('logs-pw');
    expect(redisInstanceKey(overrides.container_log!)).not.toBe(redisInstanceKey(redisFromEtcd(config, () => {})));
    expect(() => redisOverridesFromEtcd({ 'config/redis/override_configs/live/sentinel': 's1:1' }, () => {})).toThrow(
      /override_configs\/live\/sentinel is set .* but config\/redis\/override_configs\/live\/service_name is not/,
    );
  });

  it('knows which roles each release keeps in Redis, and from when it reads overrides and TLS', () => {
    const layout = (v: string) => redisLayoutOf(findRelease(v)!);
    expect(layout('25.12.1').roles.map((r) => r.db)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(layout('25.13.0').roles.map((r) => `${r.role}:${r.db}`)).toEqual(['statistics:0', 'rate_limit:1', 'live:2', 'image:3', 'stream:4', 'stream_lock:5', 'container_log:6', 'bgtask:7']);
    expect(layout('22.03.14').roles.map((r) => r.db)).toEqual([0, 1, 2, 3, 4]);
    expect([layout('25.3.3').overrides, layout('25.4.0').overrides, layout('25.12.1').tls, layout('25.13.4').tls]).toEqual([false, true, false, true]);
  });
});
