export * from './signature';
export * from './webhook-delivery';
export * from './dead-letter-replay';
export * from './destination';
export * from './postback';
