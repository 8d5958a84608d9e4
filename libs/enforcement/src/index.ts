export * from './enforcement.service';
export * from './enforcement.job';
