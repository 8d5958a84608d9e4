export * from './metrics';
export * from './file-catalog';
export * from './offline-runner';
export * from './report';
export * from './stored-events';
