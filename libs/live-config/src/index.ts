export * from './config-bucket';
export * from './ruleset.store';
export * from './ruleset.watcher';
export * from './model-registry';
export * from './model.watcher';
export * from './ruleset-diff';
