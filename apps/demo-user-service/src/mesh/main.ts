import { ConfigError, type CommonConfig } from '../config.js';
import type { Logger } from '../logger.js';

/**
 * Loads a service's configuration, or exits 1 with one line per bad variable (a ConfigError's
 * message) instead of a stack. Anything else is a bug and is rethrown.
 */
export function loadConfigOrExit<C>(service: string, load: () => C): C {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${service}: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/**
 * Starts a service as its own process (SIGTERM/SIGINT run @koa-mesh/health's graceful shutdown,
 * which exits), or exits 1 with one line that says what to change (EADDRINUSE and friends).
 */
export async function startOrExit(
  service: { start(options: { ownProcess: boolean }): Promise<string> },
  config: CommonConfig,
  logger: Logger,
): Promise<string> {
  try {
    return await service.start({ ownProcess: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    logger.error(
      e.code === 'EADDRINUSE'
        ? `cannot listen on ${config.host}:${config.port}: the port is in use (set PORT)`
        : `cannot start: ${e.message}`,
      { err: e },
    );
    process.exit(1);
  }
}
