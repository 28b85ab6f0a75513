import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every process the testkit starts is tracked twice: in memory (killed when this worker exits, also
 * when a test failed or timed out) and as a pid file in the run folder that jest's global teardown
 * sweeps (killed even when the worker itself was killed).
 */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** The folder where pid files of this test run are written; set by jest's global setup. */
export function runDir(): string {
  const dir = process.env.KOA_MESH_TESTKIT_DIR ?? join(tmpdir(), 'koa-mesh-testkit-adhoc');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is the only signal that cannot be ignored and
  // needs no cooperation from the child.
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export interface ManagedProcess {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far (bounded to the last 64 KiB). */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM), escalates to SIGKILL after `graceMs`, resolves on exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

/** Spawns a process that cannot outlive the test run. */
export function spawnManaged(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ManagedProcess {
  installExitHook();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  live.add(child);
  const pidFile = child.pid === undefined ? undefined : join(runDir(), `${child.pid}.pid`);
  if (pidFile) writeFileSync(pidFile, `${command}\n`);
  let out = '';
  const append = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > 65536) out = out.slice(-65536);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<number | string>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      live.delete(child);
      if (pidFile) rmSync(pidFile, { force: true });
      resolve(code ?? signal ?? 'unknown');
    };
    if (child.exitCode !== null || child.signalCode !== null)
      done(child.exitCode, child.signalCode);
    else child.once('exit', done);
    child.once('error', () => done(null, null));
  });
  return {
    child,
    exited,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      timer.unref();
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
