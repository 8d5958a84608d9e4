export * from './decision-policy';
export * from './scoring-engine';
