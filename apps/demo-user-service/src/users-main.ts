import { loadUsersConfig } from './config.js';
import { createLogger } from './logger.js';
import { loadConfigOrExit, startOrExit } from './mesh/main.js';
import { createUsersService } from './users-service.js';

const config = loadConfigOrExit('users service', loadUsersConfig);
const logger = createLogger(config.logLevel, { service: config.serviceName });
if (config.jwt.secretGenerated) {
  logger.warn(
    'JWT_SECRET not set: generated one for this run (development only; tokens die with the process)',
  );
}
const service = await createUsersService(config, logger);
const url = await startOrExit(service, config, logger);
logger.info(`users service listening on ${url}`, {
  url,
  discovery: config.consulAddr ? `consul ${config.consulAddr}` : 'static',
  rateLimitStore: config.redisUrl ? 'redis' : 'memory',
  tracing: config.otlpEndpoint ? `otlp ${config.otlpEndpoint}` : 'propagation only',
});
