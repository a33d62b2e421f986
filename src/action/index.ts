// The Action's entry point (action.yml: main: dist/index.js). Source maps first: Node maps stacks
// only for code loaded after this call, and the runner's node24 cannot be given --enable-source-maps.
process.setSourceMapsEnabled(true);
const { run } = await import('./main.js');
await run();
