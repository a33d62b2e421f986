#!/usr/bin/env node
import { createRequire as __baiCreateRequire } from 'node:module'; const require = __baiCreateRequire(import.meta.url);

// src/cli/index.ts
process.setSourceMapsEnabled(true);
await import("./chunks/cli-IOKMEQWT.js");
//# sourceMappingURL=cli.js.map
