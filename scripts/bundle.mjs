// Bundles the Action (dist/index.js) and the CLI (dist/cli.js) into one file each.
// etcd3 reads its .proto files from disk when it loads; a bundle has no such files,
// so the protos are compiled to JSON here and inlined through proto-loader's fromJSON.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');

const protoPath = require.resolve('etcd3/proto/rpc.proto');
const protoJson = JSON.stringify(new protobuf.Root().loadSync(protoPath, { keepCase: true }).toJSON());

const inlineEtcdProtos = {
  name: 'inline-etcd3-protos',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const call = '(0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`,';
      if (!source.includes(call)) throw new Error('etcd3 changed how it loads its protos; update scripts/bundle.mjs');
      return { contents: source.replace(call, `(0, proto_loader_1.fromJSON)(${protoJson},`), loader: 'js' };
    });
  },
};

// CommonJS dependencies bundled into ESM still call require() for Node built-ins.
const banner = "import { createRequire as __baiCreateRequire } from 'node:module'; const require = __baiCreateRequire(import.meta.url);";

const common = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  legalComments: 'none',
  banner: { js: banner },
  external: ['pg-native'],
  plugins: [inlineEtcdProtos],
  logLevel: 'warning',
};

await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js' });
await build({ ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js', banner: { js: `#!/usr/bin/env node\n${banner}` } });
