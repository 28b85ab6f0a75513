/**
 * The contract between the harness and a scenario file. A file in bench/scenarios/ default-exports
 * `defineScenarios([...])`; a file in bench/micro/ default-exports `defineMicro([...])`.
 *
 * HTTP scenarios are measured with autocannon against a server the scenario starts in its own
 * child process (bench/lib/serve.ts), one scenario loaded at a time, in interleaved rounds with
 * bare Koa, so every ratio compares figures taken minutes apart at most.
 */
import type { Server } from 'node:http';

export interface StartedScenario {
  /** The URL autocannon loads, e.g. `http://127.0.0.1:PORT/users/1`. */
  url: string;
  /** Frees everything the scenario started (servers, upstreams, timers). */
  close(): Promise<void>;
}

export interface Scenario {
  /** Unique across all files, e.g. `breaker`, `breaker:opossum`. Shown in the table. */
  name: string;
  /** One line saying what is measured. */
  description: string;
  /** Starts the server(s) in the serving child process. */
  start(): Promise<StartedScenario>;
  /** Request shape for autocannon. @default GET */
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /**
   * Other scenarios to print a ratio against besides bare Koa (e.g. `canary:direct` for a proxy),
   * by name; each must be selected in the same run to print.
   */
  compareTo?: string[];
}

export interface MicroCase {
  /** e.g. `breaker: closed execute()` */
  name: string;
  /** Builds the state once and returns the operation to time (sync or async). */
  setup(): Promise<() => unknown> | (() => unknown);
  /** Operations per sample. @default 100000 */
  iterations?: number;
}

export function defineScenarios(scenarios: Scenario[]): Scenario[] {
  return scenarios;
}

export function defineMicro(cases: MicroCase[]): MicroCase[] {
  return cases;
}

/** Listens on 127.0.0.1:0 and resolves with the base URL. */
export function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address !== 'object' || !address) return reject(new Error('no address'));
      resolve(`http://127.0.0.1:${address.port}`);
    });
  });
}

/** Closes a server and its idle/keep-alive connections. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
