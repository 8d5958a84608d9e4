export * from './compiled-forest';
export * from './model-artifact';
export * from './trainer';
export * from './thresholds';
export * from './authority';
