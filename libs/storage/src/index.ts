export * from './embedded/embedded-database';
