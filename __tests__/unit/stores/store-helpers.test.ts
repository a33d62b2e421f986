/** Small helpers of the stores that need no server: Redis INFO's config file and SQL identifier quoting. */
import { describe, expect, it } from 'vitest';
import { redisConfigFile } from '../../../src/stores/redis.js';
import { quoteIdent } from '../../../src/stores/sql.js';

// As Redis 6.2 answers INFO server: CRLF line ends, config_file near the end.
const infoServer = (configFile: string) =>
  ['# Server', 'redis_version:6.2.14', 'redis_mode:standalone', 'run_id:0b5a7e0c3f1d4a6e8b9c2d1e0f3a4b5c6d7e8f90', 'tcp_port:6379', `config_file:${configFile}`, 'io_threads_active:0', ''].join(
    '\r\n',
  );

describe('redisConfigFile', () => {
  it('is the path Redis runs from, without the line end', () => {
    expect(redisConfigFile(infoServer('/etc/redis/redis.conf'))).toBe('/etc/redis/redis.conf');
  });

  it('is empty when Redis runs without a config file', () => {
    expect(redisConfigFile(infoServer(''))).toBe('');
  });

  it('is empty when INFO says nothing of a config file (a proxy, an old server)', () => {
    expect(redisConfigFile('# Server\r\nredis_version:6.2.14\r\n')).toBe('');
  });

  it('reads only the config_file line', () => {
    expect(redisConfigFile('# Server\r\nx_config_file:/wrong.conf\r\nconfig_file:/right.conf\r\n')).toBe('/right.conf');
  });
});

describe('quoteIdent', () => {
  it.each([
    ['kernels', '"kernels"'],
    ['Mixed Case', '"Mixed Case"'],
    ['a"b', '"a""b"'],
    ['"; DROP TABLE users; --', '"""; DROP TABLE users; --"'],
  ])('quotes %j as %s', (name, quoted) => {
    expect(quoteIdent(name)).toBe(quoted);
  });
});
