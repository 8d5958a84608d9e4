export * from './decision-policy';
export * from './scoring-engine';
export * from './transitions';
export * from './hold-registry';
export * from './shadow-rules';
export * from './payout';
export * from './click-time';
