export * from './config-bucket';
export * from './ruleset.store';
export * from './ruleset.watcher';
