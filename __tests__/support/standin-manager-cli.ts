/**
 * A stand-in for the manager's CLI where the hop contract runs without a real manager package:
 * `backend.ai mgr generate-rpc-keypair DIR NAME` writes NAME.key and NAME.key_secret in the shape
 * of ZeroMQ's CURVE certificates (the keys are random bytes, not a key pair), and `--help` answers.
 * The real 23.09.10 CLI makes the key pair in real-hop.test.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_PYTHON } from './deployment.js';

const SCRIPT = `import os, sys, base64
args = sys.argv[1:]
if args[:2] != ["mgr", "generate-rpc-keypair"]:
    sys.exit("stand-in manager CLI: only mgr generate-rpc-keypair, not " + " ".join(args))
if "--help" in args:
    print("Usage: backend.ai mgr generate-rpc-keypair [OPTIONS] DST_DIR NAME")
    sys.exit(0)
dst, name = args[2], args[3]
public, secret = (base64.b64encode(os.urandom(30)).decode() for _ in range(2))
with open(os.path.join(dst, name + ".key"), "w") as f:
    f.write('metadata\\ncurve\\n    public-key = "%s"\\n' % public)
with open(os.path.join(dst, name + ".key_secret"), "w") as f:
    f.write('metadata\\ncurve\\n    public-key = "%s"\\n    secret-key = "%s"\\n' % (public, secret))
print("Public Key: %s" % public)
`;

/** The manager-command of the stand-in: a Python and the script, written once per call. */
export function standinManagerCli(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'bai-standin-cli-')), 'backend.ai.py');
  writeFileSync(path, SCRIPT);
  return `${TEST_PYTHON} ${path}`;
}
