// Kills every process the testkit recorded in this run's folder that is still alive, and says so:
// a test that leaves a server running is a bug to fix, not a thing to hide.
import { readdirSync, readFileSync, rmSync } from 'node:fs';

export default function globalTeardown() {
  const dir = process.env.KOA_MESH_TESTKIT_DIR;
  if (!dir) return;
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number.parseInt(name, 10);
    if (!Number.isInteger(pid)) continue;
    let what = '';
    try {
      what = readFileSync(`${dir}/${name}`, 'utf8').trim();
    } catch {
      // removed meanwhile
    }
    try {
      process.kill(pid, 'SIGKILL');
      process.stderr.write(`[koa-mesh testkit] killed leftover process ${pid} (${what})\n`);
    } catch {
      // already exited
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
