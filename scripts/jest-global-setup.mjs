// Gives this jest run a folder where the testkit writes a pid file for every process it starts,
// so that global teardown can kill whatever a crashed or timed-out worker left behind.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function globalSetup() {
  process.env.KOA_MESH_TESTKIT_DIR ??= mkdtempSync(join(tmpdir(), 'koa-mesh-run-'));
}
