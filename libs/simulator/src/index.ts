export * from './random';
export * from './catalog';
export * from './sim-events';
export * from './simulator';
export * from './ip-pools';
