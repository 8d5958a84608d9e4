import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

/** The datasources `provisioning/datasources/*.yaml` defines; dashboards and alert rules name them by uid. */
export const TIMESCALEDB: Required<DataSourceRef> = { type: 'grafana-postgresql-datasource', uid: 'arbiter-timescaledb' };
export const PROMETHEUS: Required<DataSourceRef> = { type: 'prometheus', uid: 'arbiter-prometheus' };

/** Grafana's server-side expressions (reduce, threshold) in alert rules. */
export const EXPRESSIONS: Required<DataSourceRef> = { type: '__expr__', uid: '__expr__' };

/** Stable dashboard uids: links between dashboards and alert rules point at them. */
export const DASHBOARD_UIDS = {
  riskOverview: 'arbiter-risk-overview',
  partnerValue: 'arbiter-partner-value',
  engineHealth: 'arbiter-engine-health',
} as const;
