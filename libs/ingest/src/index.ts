export * from './normalizer';
export * from './geo';
export * from './ndjson';
export * from './trust';
export * from './ingest.module';
