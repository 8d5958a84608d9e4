export * from './builders';
export * from './harness';
