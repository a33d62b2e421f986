#!/usr/bin/env node
// The CLI's entry point (dist/cli.js). Source maps first: Node maps stacks only for code loaded
// after this call, so the CLI itself is imported afterwards.
process.setSourceMapsEnabled(true);
await import('./cli.js');
