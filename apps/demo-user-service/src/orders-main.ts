import { ConfigError, loadOrdersConfig, type OrdersConfig } from './config.js';
import { createLogger } from './logger.js';
import { createOrdersService } from './orders/orders-service.js';

let config: OrdersConfig;
try {
  config = loadOrdersConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`orders service: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
const logger = createLogger(config.logLevel, {
  service: config.serviceName,
  version: config.version,
});
const service = await createOrdersService(config, logger);
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
logger.info(`orders ${config.version} listening on ${url}`, {
  url,
  delayMs: config.delayMs,
  failureRate: config.failureRate,
});
