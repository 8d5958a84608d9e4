import { alertQuery, expandMacros, formatInterval, interpolateVariables, panelInterval, panelQuery, secondsToHms } from './grafana-sql';

/** The expander is the tests' model of Grafana; these pin it to Grafana's own expected outputs (macros_test.go, rangeutil). */
describe('Grafana PostgreSQL query expansion', () => {
  const range = { from: new Date('2018-04-12T18:00:00Z'), to: new Date('2018-04-12T18:05:00.250Z') };

  it.each([
    ['$__time(time_column)', false, 'time_column AS "time"'],
    ['$__timeEpoch(time)', false, 'extract(epoch from time) as "time"'],
    ['WHERE $__timeFilter(time_column)', false, `WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00.25Z'`],
    ['$__timeFrom() $__timeTo()', false, `'2018-04-12T18:00:00Z' '2018-04-12T18:05:00.25Z'`],
    [`GROUP BY $__timeGroup(time_column,'5m')`, false, 'GROUP BY floor(extract(epoch from time_column)/300)*300'],
    [`GROUP BY $__timeGroup(time_column,'5m')`, true, `GROUP BY time_bucket('300.000s',time_column)`],
    ['$__timeGroupAlias(time_column, 1h)', true, `time_bucket('3600.000s',time_column) AS "time"`],
    ['$__timeGroupAlias(time_column, 1h)', false, 'floor(extract(epoch from time_column)/3600)*3600 AS "time"'],
    // Pre-5.3 behaviour kept by Grafana: a comma right after $__timeGroup adds the alias.
    ['SELECT $__timeGroup(t, 1h), x', false, 'SELECT floor(extract(epoch from t)/3600)*3600 AS "time", x'],
    ['ORDER BY $__timeGroup(t, 1h))', false, 'ORDER BY floor(extract(epoch from t)/3600)*3600)'],
    ['$__unixEpochFilter(ts)', false, 'ts >= 1523556000 AND ts <= 1523556300'],
    ['$__unixEpochGroupAlias(ts, 5m)', false, 'floor((ts)/300)*300 AS "time"'],
  ])('%s (TimescaleDB %s)', (sql, timescaledb, expected) => {
    expect(expandMacros(sql, range, timescaledb)).toBe(expected);
  });

  it('rejects a macro Grafana does not know', () => {
    expect(() => expandMacros('$__nope(x)', range, false)).toThrow(/unknown macro/);
  });

  it('computes the interval as the browser does: range / max data points, rounded, floored at the min interval', () => {
    const day = { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-02T00:00:00Z') };
    expect(panelInterval(day, 1000)).toEqual({ interval: '1m', intervalMs: 60_000 });
    expect(panelInterval(day, 1000, '1h')).toEqual({ interval: '1h', intervalMs: 3_600_000 });
    const quarter = { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-04-01T00:00:00Z') };
    expect(panelInterval(quarter, 1000, '1h')).toEqual({ interval: '2h', intervalMs: 7_200_000 });
    expect(secondsToHms(604800)).toBe('7d');
    expect(formatInterval(86_400_000)).toBe('1d');
  });

  describe('template variables (SQL datasource formatting)', () => {
    const interval = { interval: '1h', intervalMs: 3_600_000 };
    const publisher = { name: 'publisher', multi: true, includeAll: true, allValue: `'__all'`, options: ['a', 'b'] };

    it('inserts a custom all value as it is', () => {
      expect(interpolateVariables('x IN ($publisher)', [{ ...publisher, current: '$__all' }], interval)).toBe(`x IN ('__all')`);
    });

    it('expands All without a custom value to every option, quoted', () => {
      expect(interpolateVariables('x IN ($publisher)', [{ ...publisher, allValue: null, current: '$__all' }], interval)).toBe(
        `x IN ('a','b')`,
      );
    });

    it('quotes and escapes multi-value selections', () => {
      expect(interpolateVariables('x IN (${publisher})', [{ ...publisher, current: ["o'brien", 'b'] }], interval)).toBe(
        `x IN ('o''brien','b')`,
      );
    });

    it('leaves a single-value variable unquoted but escaped', () => {
      expect(interpolateVariables(`x = '$v'`, [{ name: 'v', current: ["it's"] }], interval)).toBe(`x = 'it''s'`);
    });

    it('supports csv and sqlstring formats, and the interval variables', () => {
      const v = [{ ...publisher, current: ['a', 'b'] }];
      expect(interpolateVariables('${publisher:csv} ${publisher:sqlstring} $__interval $__interval_ms', v, interval)).toBe(
        `a,b 'a','b' 1h 3600000`,
      );
    });

    it('leaves macros for the server', () => {
      expect(interpolateVariables('$__timeFilter(ts)', [], interval)).toBe('$__timeFilter(ts)');
    });
  });

  it('runs the whole chain for panels and for alert rules', () => {
    const day = { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-02T00:00:00Z') };
    expect(panelQuery('SELECT $__timeGroupAlias(bucket, $__interval), 1', { range: day, timescaledb: true, minInterval: '1h' })).toBe(
      `SELECT time_bucket('3600.000s',bucket) AS "time", 1`,
    );
    expect(alertQuery('$__timeGroup(ts, $__interval) $__unixEpochFrom()', { range: day, timescaledb: false, intervalMs: 60_000 })).toBe(
      'floor(extract(epoch from ts)/60)*60 1767225600',
    );
  });
});
