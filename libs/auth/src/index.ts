export * from './api-key.guard';
export * from './rate-limit.guard';
