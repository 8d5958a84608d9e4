import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import { TIMESCALEDB } from './datasources';

/** How Grafana's SQL datasources shape a result: series (needs a `time` column) or a table. */
export type SqlFormat = 'time_series' | 'table';

/** The query model of Grafana's PostgreSQL datasource in code mode (the SDK has no builder for it). */
export interface SqlQuery extends Dataquery {
  refId: string;
  datasource: { type: string; uid: string };
  rawSql: string;
  rawQuery: true;
  format: SqlFormat;
  editorMode: 'code';
}

/** A raw-SQL target for the TimescaleDB datasource, usable wherever the SDK takes a query builder. */
export class SqlTarget implements Builder<SqlQuery> {
  constructor(
    private readonly sql: string,
    private readonly queryFormat: SqlFormat = 'table',
    private readonly ref = 'A',
  ) {}

  refId(refId: string): SqlTarget {
    return new SqlTarget(this.sql, this.queryFormat, refId);
  }

  build(): SqlQuery {
    return {
      refId: this.ref,
      datasource: { ...TIMESCALEDB },
      rawSql: tidy(this.sql),
      rawQuery: true,
      format: this.queryFormat,
      editorMode: 'code',
      _implementsDataqueryVariant() {},
    };
  }
}

/** A time-series query (a `time` column, then numeric columns, or `metric` + value in long form). */
export const seriesSql = (sql: string, refId = 'A') => new SqlTarget(sql, 'time_series', refId);
/** A table query (stat panels, tables, bar charts). */
export const tableSql = (sql: string, refId = 'A') => new SqlTarget(sql, 'table', refId);

/** Drops the indentation template literals carry, so the JSON (and Grafana's editor) reads cleanly. */
function tidy(sql: string): string {
  const lines = sql.replace(/^\n+|\s+$/g, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)![0].length));
  return lines.map((l) => l.slice(indent).trimEnd()).join('\n');
}
