export * from './normalizer';
export * from './geo';
