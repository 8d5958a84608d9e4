export * from './kpi.repository';
