/** The fault-injection harness: services as child processes, traffic, accounting (see each file's header). */
export * from './cluster';
export * from './traffic';
export * from './accounting';
export * from './embedded';
