import { Injectable } from '@nestjs/common';
import { csvFile, fieldColumns, fieldsOf, prefersCsv } from '@app/http';
import { Dimension, KpiRepository } from '@app/kpi';
import { GROUP_DIMENSIONS, range } from './api-schemas';

/** What every stats endpoint is asked: a time range, a grain, a grouping and an offer. */
export interface StatsRequest {
  from?: string;
  to?: string;
  interval?: 'hour' | 'day';
  groupBy?: keyof typeof GROUP_DIMENSIONS;
  offerId?: string;
}

/** The KPIs (DESIGN §7) of the network, or of one advertiser or one publisher, from the rollups. */
@Injectable()
export class StatsService {
  constructor(private readonly kpis: KpiRepository) {}

  /** One row per bucket and group; a publisher's own rows are not grouped by publisher (there is one). */
  rows(q: StatsRequest, scope: { advertiserId?: string; publisherId?: string } = {}) {
    const groupBy = [...GROUP_DIMENSIONS[q.groupBy ?? 'none']].filter((d) => !(scope.publisherId && d === 'publisher_id')) as Dimension[];
    return this.kpis.query({ ...range(q), grain: q.interval ?? 'day', groupBy, ...scope, offerId: q.offerId });
  }
}

/**
 * A stats answer: `{ rows }`, or with `Accept: text/csv` the same rows as CSV, one column per field
 * (`flatten`: object fields spread into columns, e.g. `group.offer_id`; `example`: the header when
 * there are no rows).
 */
export function statsAnswer<T extends object>(accept: string | undefined, rows: T[], example: object, flatten: readonly string[] = []) {
  return prefersCsv(accept) ? csvFile(rows, fieldColumns<T>(fieldsOf(rows, flatten, example)), 'stats.csv') : { rows };
}
