/**
 * The report: one model for every command (model.ts), its redaction (redact.ts), and one renderer
 * each for the job summary (markdown.ts), the terminal (text.ts) and the rehearsal's pull-request
 * comment (pr-comment.ts).
 */
export * from './model.js';
export { redact } from './redact.js';
export { formatDuration, formatRatio, renderAttention, renderFailure, renderForecast, renderGrowth, renderMarkdown, renderTimings } from './markdown.js';
export { renderText } from './text.js';
export { commentMarker, rehearsalComment } from './pr-comment.js';
