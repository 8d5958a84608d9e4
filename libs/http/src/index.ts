export * from './errors.filter';
export * from './http-app';
export * from './schema.pipe';
export * from './query.pipe';
export * from './cursor';
export * from './openapi';
export * from './csv';
export * from './paged-list';
export { EventContractChecksText } from './unstorable-text';
