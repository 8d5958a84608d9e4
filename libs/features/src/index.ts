export * from './sliding-counts';
export * from './bounded-map';
export * from './ip';
export * from './user-agent';
export * from './feature-state';
export * from './cidr-set';
export * from './datacenter-ranges';
export * from './memo';
