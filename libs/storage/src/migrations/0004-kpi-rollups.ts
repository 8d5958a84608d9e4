import { ROLLUPS_V1 as ROLLUPS } from '../rollups';
import { Migration, run } from './migration';

/**
 * KPI rollups (continuous aggregates or refreshed tables), and on TimescaleDB the lifecycle of raw
 * data: compressed after a week (a month for decisions, which revisions still update), dropped
 * after the retention period. The rollups outlive the raw rows.
 */
export const kpiRollups: Migration = {
  id: '0004-kpi-rollups',
  description: 'hourly and daily KPI rollups; compression and retention of raw data',
  async up(db, dialect) {
    for (const r of ROLLUPS) await run(db, dialect.rollup(r));
    await run(db, [
      ...dialect.lifecycle('clicks', { segmentBy: 'publisher_id', compressAfter: '7 days', dropAfter: '90 days' }),
      ...dialect.lifecycle('click_verdicts', { segmentBy: 'publisher_id', compressAfter: '7 days', dropAfter: '90 days' }),
      ...dialect.lifecycle('conversions', { segmentBy: 'click_id', compressAfter: '30 days', dropAfter: '400 days' }),
      ...dialect.lifecycle('decisions', { segmentBy: 'advertiser_id', compressAfter: '30 days', dropAfter: '400 days' }),
    ]);
  },
};
