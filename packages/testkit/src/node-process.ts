import type { SpawnOptions } from 'node:child_process';
import { spawnManaged, type ManagedProcess } from './processes.js';
import { nodeArgsFor } from './repo.js';
import { waitFor } from './wait-for.js';

export interface StartNodeOptions extends SpawnOptions {
  args?: readonly string[];
  /** Wait until the process prints a line matching this before resolving. */
  readyLine?: RegExp;
  /** @default 20000 */
  readyTimeoutMs?: number;
}

/**
 * Runs a Node script (a `.ts` file goes through tsx's loader) as a managed child process that
 * cannot outlive the test run. Environment is inherited unless `env` is given.
 */
export async function startNode(
  script: string,
  options: StartNodeOptions = {},
): Promise<ManagedProcess> {
  const { args = [], readyLine, readyTimeoutMs = 20_000, ...spawnOptions } = options;
  const proc = spawnManaged(process.execPath, [...nodeArgsFor(script), ...args], spawnOptions);
  if (readyLine) {
    await waitFor(
      () => {
        // The line first: a process that prints it and exits at once (a CLI) is ready, not failed.
        if (readyLine.test(proc.output())) return true;
        if (proc.child.exitCode !== null) {
          throw new Error(`${script} exited with ${proc.child.exitCode}:\n${proc.output()}`);
        }
        return false;
      },
      { timeoutMs: readyTimeoutMs, message: `${script} to print ${readyLine}` },
    );
  }
  return proc;
}
