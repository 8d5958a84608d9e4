export * from './rule';
export * from './catalogue';
export * from './ruleset';
export * from './rule-engine';
export * from './lists';
export * from './ruleset-config';
export * from './statistics';
export { userAgentShape } from './conversion/device-mismatch.rule';
export * from './reason-codes-doc';
