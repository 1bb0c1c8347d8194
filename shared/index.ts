export * from './api-types.js';
export * from './errors.js';
export * from './protocol.js';
export * from './canonical-json.js';
export * from './time.js';
export * from './resources.js';
