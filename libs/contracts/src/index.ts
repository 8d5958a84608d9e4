export * from './events.schema';
export * from './catalog.schema';
export * from './verdict.schema';
export * from './reason-codes';
export * from './validation';
export * from './topology';
export * from './ids';
export * from './privacy';
