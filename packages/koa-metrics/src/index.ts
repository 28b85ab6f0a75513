export { metrics } from './metrics.js';
export { ABORTED, LABEL_ERROR, OTHER_METHOD, UNMATCHED } from './recorder.js';
export type { HealthCheckResult, MetricsMiddleware } from './metrics.js';
export {
  DEFAULT_BUCKETS,
  DEFAULT_IGNORE,
  DEFAULT_SIZE_BUCKETS,
  type DefaultMetricsOptions,
  type LabelFunction,
  type ListenOptions,
  type MetricsContext,
  type MetricsOptions,
} from './options.js';
export { OVERFLOW } from './request-table.js';
export { DROPPED_DEFAULT_METRICS } from './default-metrics.js';
export { MetricsError, isMetricsError, type MetricsErrorCode } from './errors.js';
export { negotiateFormat } from './negotiate.js';
export {
  OPENMETRICS_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
  type ExpositionFormat,
} from './exposition.js';
export { clusterMetricsServer } from './cluster.js';
export type { ClusterMetricsServer, ClusterMetricsServerOptions } from './cluster.js';
