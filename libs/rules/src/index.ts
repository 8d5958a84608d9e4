export * from './rule';
export * from './catalogue';
export * from './ruleset';
export * from './rule-engine';
