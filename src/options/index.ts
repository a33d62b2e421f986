/** The inputs' one description (spec.ts) and their validation (parse.ts); import them from here. */
export * from './spec.js';
export * from './parse.js';
