/** The inputs' one description (spec.ts) and their validation (parse.ts); import them from here. */
export * from './options/spec.js';
export * from './options/parse.js';
