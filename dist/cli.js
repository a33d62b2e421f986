#!/usr/bin/env node
import { createRequire as __baiCreateRequire } from 'node:module'; const require = __baiCreateRequire(import.meta.url);

// src/cli-entry.ts
process.setSourceMapsEnabled(true);
await import("./chunks/cli-ZUYTG5U5.js");
//# sourceMappingURL=cli.js.map
