import { loadOrdersConfig } from './config.js';
import { createLogger } from './logger.js';
import { loadConfigOrExit, startOrExit } from './mesh/main.js';
import { createOrdersService } from './orders/orders-service.js';

const config = loadConfigOrExit('orders service', loadOrdersConfig);
const logger = createLogger(config.logLevel, {
  service: config.serviceName,
  version: config.version,
});
const service = await createOrdersService(config, logger);
const url = await startOrExit(service, config, logger);
logger.info(`orders ${config.version} listening on ${url}`, {
  url,
  delayMs: config.delayMs,
  failureRate: config.failureRate,
});
