import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, loadOrdersConfig } from './config.js';
import { createLogger } from './logger.js';
import { createOrdersApp } from './orders/service.js';

let config;
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
const app = createOrdersApp({ config, logger });
const server = createServer(app.callback());
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port, config.host, () => resolve());
});
const { port } = server.address() as AddressInfo;
const url = `http://${config.host}:${port}`;
logger.info(`orders ${config.version} listening on ${url}`, { url });

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}
