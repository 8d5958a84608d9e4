export * from './random';
export * from './catalog';
export * from './sim-events';
export * from './simulator';
export * from './ip-pools';
export * from './profiles';
export * from './user-agent-lists';
