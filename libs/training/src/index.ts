export * from './train-model';
export * from './cross-profile';
