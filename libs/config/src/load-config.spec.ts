import { ConfigError, loadConfig, ownedPartitions, trustProxySetting } from './load-config';

describe('loadConfig', () => {
  it('applies defaults to an empty environment', () => {
    const sut = loadConfig({});
    expect(sut.GATEWAY_PORT).toBe(8080);
    expect(sut.API_PORT).toBe(3000);
    expect(sut.DATABASE_URL).toBeUndefined();
    expect(sut.DUPLICATE_WINDOW_SECONDS).toBeGreaterThanOrEqual(120);
  });

  it('converts strings from the environment to typed values', () => {
    const sut = loadConfig({ GATEWAY_PORT: '9000', GATEWAY_TRUST_PROXY: '1', SCORER_REPLAY_HOURS: '0.5' });
    expect(sut.GATEWAY_PORT).toBe(9000);
    expect(trustProxySetting(sut.GATEWAY_TRUST_PROXY)).toBe(1);
    expect(sut.SCORER_REPLAY_HOURS).toBe(0.5);
  });

  it('names every invalid variable', () => {
    expect(() => loadConfig({ GATEWAY_PORT: 'eighty', LOG_LEVEL: 'loud' })).toThrow(ConfigError);
    try {
      loadConfig({ GATEWAY_PORT: 'eighty', LOG_LEVEL: 'loud' });
    } catch (e) {
      const message = (e as Error).message;
      expect(message).toContain('GATEWAY_PORT');
      expect(message).toContain('LOG_LEVEL');
    }
  });

  it('refuses a duplicate window below two minutes', () => {
    expect(() => loadConfig({ DUPLICATE_WINDOW_SECONDS: '30' })).toThrow(/DUPLICATE_WINDOW_SECONDS/);
  });

  it('takes the hold-timer tick from the environment and refuses one that would spin', () => {
    expect(loadConfig({}).SCORER_HOLD_TICK_MS).toBe(5000);
    expect(loadConfig({ SCORER_HOLD_TICK_MS: '250' }).SCORER_HOLD_TICK_MS).toBe(250);
    expect(() => loadConfig({ SCORER_HOLD_TICK_MS: '0' })).toThrow(/SCORER_HOLD_TICK_MS/);
  });

  it("bounds the embedded database's checkpoint volume (16 to 512 MB: pg_wal then stays within max_wal_size, 1 GB)", () => {
    expect(loadConfig({}).EMBEDDED_DB_CHECKPOINT_WAL_MB).toBe(128);
    expect(loadConfig({ EMBEDDED_DB_CHECKPOINT_WAL_MB: '16' }).EMBEDDED_DB_CHECKPOINT_WAL_MB).toBe(16);
    expect(loadConfig({ EMBEDDED_DB_CHECKPOINT_WAL_MB: '512' }).EMBEDDED_DB_CHECKPOINT_WAL_MB).toBe(512);
    expect(() => loadConfig({ EMBEDDED_DB_CHECKPOINT_WAL_MB: '8' })).toThrow(/EMBEDDED_DB_CHECKPOINT_WAL_MB/);
    expect(() => loadConfig({ EMBEDDED_DB_CHECKPOINT_WAL_MB: '1024' })).toThrow(/EMBEDDED_DB_CHECKPOINT_WAL_MB/);
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig({ HOME: '/root', PATH: '/bin' })).not.toThrow();
  });
});

describe('ownedPartitions', () => {
  it('owns all partitions by default', () => {
    expect(ownedPartitions(loadConfig({ ARBITER_PARTITIONS: '4' }))).toEqual([0, 1, 2, 3]);
  });
  it('owns the listed partitions', () => {
    expect(ownedPartitions(loadConfig({ ARBITER_PARTITIONS: '4', SCORER_PARTITIONS: '1,3' }))).toEqual([1, 3]);
  });
  it('refuses a partition that does not exist', () => {
    expect(() => ownedPartitions(loadConfig({ ARBITER_PARTITIONS: '2', SCORER_PARTITIONS: '2' }))).toThrow(ConfigError);
  });

  it.each([
    ['', false],
    ['false', false],
    ['2', 2],
    ['10.0.0.0/8, 192.168.1.7', '10.0.0.0/8, 192.168.1.7'],
  ])('trusts proxies only as told: %j', (value, expected) => {
    expect(trustProxySetting(loadConfig({}, { GATEWAY_TRUST_PROXY: value }).GATEWAY_TRUST_PROXY)).toEqual(expected);
  });

  it('refuses to trust any X-Forwarded-For', () => {
    expect(() => loadConfig({ GATEWAY_TRUST_PROXY: 'true' })).toThrow(/GATEWAY_TRUST_PROXY/);
    expect(() => loadConfig({ API_TRUST_PROXY: 'true' })).toThrow(/API_TRUST_PROXY/);
  });
});
