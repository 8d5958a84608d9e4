/**
 * What Grafana does to a PostgreSQL panel query before the database sees it, so tests can run the
 * dashboards' SQL as Grafana would:
 *
 * 1. the browser replaces template variables and `$__interval` / `$__interval_ms` (templateSrv
 *    with the SQL datasource's `interpolateVariable`: multi-value and include-All variables become
 *    quoted, comma-separated literals; a custom all value is inserted as it is);
 * 2. the server replaces `$__interval`, `$__interval_ms`, `$__unixEpochFrom()`, `$__unixEpochTo()`
 *    (sqleng.Interpolate; alert queries only get this step, with the query's interval);
 * 3. the server expands the macros (pkg/tsdb/grafana-postgresql-datasource/macros.go), with
 *    `time_bucket()` for `$__timeGroup` when the datasource has TimescaleDB enabled, an epoch floor
 *    expression otherwise.
 *
 * Ported from Grafana 11's sources; the quirks are kept (e.g. `$__timeGroup(…)` directly followed
 * by a comma gets `AS "time"`, as in Grafana before 5.3).
 */

export interface TimeRange {
  from: Date;
  to: Date;
}

/** A template variable as a dashboard defines it, and its current selection. */
export interface TemplateVariable {
  name: string;
  multi?: boolean;
  includeAll?: boolean;
  /** A custom all value; without one, "All" means every option. */
  allValue?: string | null;
  /** The option values the variable's query returned (used for "All" without a custom all value). */
  options?: string[];
  /** `'$__all'` for All, otherwise the selected values. */
  current: string[] | '$__all';
}

/** Interval units of Grafana's `gtime.ParseInterval` and the browser's interval strings. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

export function intervalToMs(interval: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(interval.trim());
  if (!m) throw new Error(`unsupported interval "${interval}"`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** `@grafana/data` rangeutil.roundInterval: the "nice" interval at or below a raw one. */
export function roundInterval(ms: number): number {
  const steps: [below: number, value: number][] = [
    [10, 1],
    [15, 10],
    [35, 20],
    [75, 50],
    [150, 100],
    [350, 200],
    [750, 500],
    [1500, 1000],
    [3500, 2000],
    [7500, 5000],
    [12500, 10000],
    [17500, 15000],
    [25000, 20000],
    [45000, 30000],
    [90000, 60000],
    [210000, 120000],
    [450000, 300000],
    [750000, 600000],
    [1050000, 900000],
    [1500000, 1200000],
    [2700000, 1800000],
    [5400000, 3600000],
    [9000000, 7200000],
    [16200000, 10800000],
    [32400000, 21600000],
    [86400000, 43200000],
    [604800000, 86400000],
    [1814400000, 604800000],
    [3628800000, 2592000000],
  ];
  for (const [below, value] of steps) if (ms < below) return value;
  return 31536000000;
}

/** `rangeutil.secondsToHms`: the interval as the browser writes it into `$__interval` (a week is "7d"). */
export function secondsToHms(seconds: number): string {
  const years = Math.floor(seconds / 31536000);
  if (years) return `${years}y`;
  const days = Math.floor((seconds % 31536000) / 86400);
  if (days) return `${days}d`;
  const hours = Math.floor(((seconds % 31536000) % 86400) / 3600);
  if (hours) return `${hours}h`;
  const minutes = Math.floor((((seconds % 31536000) % 86400) % 3600) / 60);
  if (minutes) return `${minutes}m`;
  const secs = Math.floor((((seconds % 31536000) % 86400) % 3600) % 60);
  if (secs) return `${secs}s`;
  const ms = Math.floor(seconds * 1000);
  if (ms) return `${ms}ms`;
  return 'less than a millisecond';
}

/** `rangeutil.calculateInterval`: range over resolution (max data points), rounded, no finer than the panel's min interval. */
export function panelInterval(range: TimeRange, resolution: number, minInterval?: string): { interval: string; intervalMs: number } {
  let intervalMs = roundInterval((range.to.getTime() - range.from.getTime()) / resolution);
  const low = minInterval ? intervalToMs(minInterval) : 1;
  if (low > intervalMs) intervalMs = low;
  return { interval: secondsToHms(intervalMs / 1000), intervalMs };
}

const quoteLiteral = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** Step 1 (browser): template variables and the interval, as templateSrv.replace does for SQL datasources. */
export function interpolateVariables(
  sql: string,
  variables: TemplateVariable[],
  interval: { interval: string; intervalMs: number },
): string {
  const byName = new Map(variables.map((v) => [v.name, v]));
  const builtIn: Record<string, string> = { __interval: interval.interval, __interval_ms: String(interval.intervalMs) };
  // templateSrv's variableRegex: $var, [[var]] / [[var:fmt]], ${var} / ${var:fmt}.
  const variableRegex = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;
  return sql.replace(variableRegex, (match, plain, bracket, bracketFormat, braced, _fieldPath, bracedFormat) => {
    const name: string = plain ?? bracket ?? braced;
    const format: string | undefined = bracketFormat ?? bracedFormat;
    if (name in builtIn) return builtIn[name];
    const v = byName.get(name);
    if (!v) return match; // not a variable: a macro such as $__timeFilter, left for the server
    if (v.current === '$__all') {
      // A custom all value is not formatted (templateSrv: "skip formatting of custom all values").
      if (v.allValue) return v.allValue;
      return format_(v.options ?? [], v, format);
    }
    return format_(v.multi || v.current.length !== 1 ? v.current : v.current[0], v, format);
  });
}

function format_(value: string | string[], v: TemplateVariable, format?: string): string {
  switch (format) {
    case undefined:
      // The SQL datasource's interpolateVariable.
      if (typeof value === 'string') return v.multi || v.includeAll ? quoteLiteral(value) : value.replace(/'/g, "''");
      return value.map(quoteLiteral).join(',');
    case 'csv':
      return typeof value === 'string' ? value : value.join(',');
    case 'sqlstring':
      return (typeof value === 'string' ? [value] : value).map(quoteLiteral).join(',');
    case 'raw':
      return typeof value === 'string' ? value : value.join(',');
    default:
      throw new Error(`variable format "${format}" is not implemented here`);
  }
}

/** Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros. */
function rfc3339Nano(d: Date): string {
  return d
    .toISOString()
    .replace(/(\.\d*?)0+Z$/, '$1Z')
    .replace(/\.Z$/, 'Z');
}

/** Go's `%v` of a float64 number of seconds (3600 → "3600", 0.5 → "0.5"). */
const goNumber = (n: number) => String(n);

/** gtime.FormatInterval: how the server writes `$__interval` (whole units, largest first). */
export function formatInterval(ms: number): string {
  for (const [unit, size] of [
    ['y', UNIT_MS.y],
    ['d', UNIT_MS.d],
    ['h', UNIT_MS.h],
    ['m', UNIT_MS.m],
    ['s', UNIT_MS.s],
    ['ms', UNIT_MS.ms],
  ] as const) {
    if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  }
  return '1ms';
}

/** Step 2 (server): sqleng.Interpolate. */
export function interpolateGlobals(sql: string, range: TimeRange, intervalMs: number): string {
  return sql
    .replaceAll('$__interval_ms', String(intervalMs))
    .replaceAll('$__interval', formatInterval(intervalMs))
    .replaceAll('$__unixEpochFrom()', String(Math.floor(range.from.getTime() / 1000)))
    .replaceAll('$__unixEpochTo()', String(Math.floor(range.to.getTime() / 1000)));
}

/** Step 3 (server): the PostgreSQL macro engine. */
export function expandMacros(sql: string, range: TimeRange, timescaledb: boolean): string {
  const macro = /\$([_a-zA-Z0-9]+)\(([^)]*)\)/g;
  return sql.replace(macro, (whole: string, name: string, argList: string) => {
    // Grafana looks at the first occurrence of the same text in the query: a comma right after it
    // turns $__timeGroup into $__timeGroupAlias.
    if (name === '__timeGroup') {
      const at = sql.indexOf(whole);
      if (at >= 0 && sql[at + whole.length] === ',') name = '__timeGroupAlias';
    }
    return evaluate(
      name,
      argList.split(',').map((a) => a.trim()),
      range,
      timescaledb,
    );
  });
}

function evaluate(name: string, args: string[], range: TimeRange, timescaledb: boolean): string {
  const column = () => {
    if (!args[0]) throw new Error(`missing time column argument for macro ${name}`);
    return args[0];
  };
  const from = rfc3339Nano(range.from);
  const to = rfc3339Nano(range.to);
  const unix = (d: Date) => Math.floor(d.getTime() / 1000);
  const nanos = (d: Date) => (BigInt(d.getTime()) * 1_000_000n).toString();
  switch (name) {
    case '__time':
      return `${column()} AS "time"`;
    case '__timeEpoch':
      return `extract(epoch from ${column()}) as "time"`;
    case '__timeFilter':
      return `${column()} BETWEEN '${from}' AND '${to}'`;
    case '__timeFrom':
      return `'${from}'`;
    case '__timeTo':
      return `'${to}'`;
    case '__timeGroup': {
      if (args.length < 2) throw new Error(`macro ${name} needs time column and interval and optional fill value`);
      if (args.length === 3) throw new Error('fill modes of $__timeGroup are applied by Grafana to the result; not supported here');
      const seconds = intervalToMs(args[1].replace(/^'+|'+$/g, '')) / 1000;
      if (timescaledb) return `time_bucket('${seconds.toFixed(3)}s',${args[0]})`;
      return `floor(extract(epoch from ${args[0]})/${goNumber(seconds)})*${goNumber(seconds)}`;
    }
    case '__timeGroupAlias':
      return `${evaluate('__timeGroup', args, range, timescaledb)} AS "time"`;
    case '__unixEpochFilter':
      return `${column()} >= ${unix(range.from)} AND ${column()} <= ${unix(range.to)}`;
    case '__unixEpochNanoFilter':
      return `${column()} >= ${nanos(range.from)} AND ${column()} <= ${nanos(range.to)}`;
    case '__unixEpochNanoFrom':
      return nanos(range.from);
    case '__unixEpochNanoTo':
      return nanos(range.to);
    case '__unixEpochGroup': {
      if (args.length < 2) throw new Error(`macro ${name} needs time column and interval and optional fill value`);
      const seconds = intervalToMs(args[1].replace(/^'+|'+$/g, '')) / 1000;
      return `floor((${args[0]})/${goNumber(seconds)})*${goNumber(seconds)}`;
    }
    case '__unixEpochGroupAlias':
      return `${evaluate('__unixEpochGroup', args, range, timescaledb)} AS "time"`;
    default:
      throw new Error(`unknown macro "${name}"`);
  }
}

/** A panel query as Grafana runs it: variables and interval in the browser, then the server's steps. */
export function panelQuery(
  sql: string,
  o: { range: TimeRange; timescaledb: boolean; variables?: TemplateVariable[]; minInterval?: string; maxDataPoints?: number },
): string {
  const interval = panelInterval(o.range, o.maxDataPoints ?? 1000, o.minInterval);
  const browser = interpolateVariables(sql, o.variables ?? [], interval);
  return expandMacros(interpolateGlobals(browser, o.range, interval.intervalMs), o.range, o.timescaledb);
}

/** An alert rule's query: no template variables; the server's steps with the query's own interval. */
export function alertQuery(sql: string, o: { range: TimeRange; timescaledb: boolean; intervalMs: number }): string {
  return expandMacros(interpolateGlobals(sql, o.range, o.intervalMs), o.range, o.timescaledb);
}
