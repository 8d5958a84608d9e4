export * from './builders';
export * from './harness';
export * from './fnv-multicollision';
export * from './sketch-collisions';
