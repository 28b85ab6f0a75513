import { ConfigError, loadUsersConfig } from './config.js';
import { createLogger } from './logger.js';
import { createUsersService } from './users-service.js';

let config;
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
const url = await service.start();
logger.info(`users service listening on ${url}`, { url });

let signalled = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    logger.info('shutting down', { signal });
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  });
}
