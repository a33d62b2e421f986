import { createRequire as __baiCreateRequire } from 'node:module'; const require = __baiCreateRequire(import.meta.url);

// src/action/index.ts
process.setSourceMapsEnabled(true);
var { run } = await import("./chunks/main-32ACOJAF.js");
await run();
//# sourceMappingURL=index.js.map
