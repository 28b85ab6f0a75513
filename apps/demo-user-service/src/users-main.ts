import { ConfigError, loadUsersConfig, type UsersConfig } from './config.js';
import { createLogger } from './logger.js';
import { createUsersService } from './users-service.js';

let config: UsersConfig;
try {
  config = loadUsersConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`users service: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
const logger = createLogger(config.logLevel, { service: config.serviceName });
if (config.jwt.secretGenerated) {
  logger.warn(
    'JWT_SECRET not set: generated one for this run (development only; tokens die with the process)',
  );
}
const service = await createUsersService(config, logger);
// SIGTERM/SIGINT run @koa-mesh/health's graceful shutdown, which exits the process.
let url: string;
try {
  url = await service.start({ ownProcess: true });
} catch (err) {
  // EADDRINUSE and friends: one line that says what to change, not a stack.
  const e = err as NodeJS.ErrnoException;
  logger.error(
    e.code === 'EADDRINUSE'
      ? `cannot listen on ${config.host}:${config.port}: the port is in use (set PORT)`
      : `cannot start: ${e.message}`,
    { err: e },
  );
  process.exit(1);
}
logger.info(`users service listening on ${url}`, {
  url,
  discovery: config.consulAddr ? `consul ${config.consulAddr}` : 'static',
  rateLimitStore: config.redisUrl ? 'redis' : 'memory',
  tracing: config.otlpEndpoint ? `otlp ${config.otlpEndpoint}` : 'propagation only',
});
