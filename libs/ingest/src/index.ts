export * from './normalizer';
export * from './geo';
export * from './ndjson';
