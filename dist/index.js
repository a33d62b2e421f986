import { createRequire as __baiCreateRequire } from 'node:module'; const require = __baiCreateRequire(import.meta.url);

// src/index.ts
process.setSourceMapsEnabled(true);
var { run } = await import("./chunks/main-J77YMZF5.js");
await run();
//# sourceMappingURL=index.js.map
