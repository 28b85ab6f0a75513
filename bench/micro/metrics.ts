import { negotiateFormat } from '@koa-mesh/metrics';
import { Counter, Histogram, Registry } from 'prom-client';
import { defineMicro } from '../lib/scenario.js';
// Internal: the table behind the request metrics is not public API, so this case reads the source.
import { RequestTable } from '../../packages/koa-metrics/src/request-table.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const ROUTES = ['/users/:id', '/orders/:id', '/health', '__unmatched__'];
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const now = (): number => Date.now() / 1000;

export default defineMicro([
  {
    name: 'metrics: record a request (table look-up + counter + histogram)',
    setup() {
      const table = new RequestTable({
        labelNames: ['method', 'route', 'status_code'],
        bounds: BUCKETS,
        sizeBounds: undefined,
        maxSeries: 2000,
      });
      let i = 0;
      return () => {
        const route = ROUTES[i++ & 3]!;
        const key = route + '\u0001GET\u0001200';
        const s = table.find(key) ?? table.add(key, ['GET', route, '200']);
        table.observe(s, 0.012, undefined, undefined, now);
      };
    },
    iterations: 1_000_000,
  },
  {
    name: 'metrics: prom-client Counter.inc + Histogram.observe (3 labels, hand-written style)',
    setup() {
      const registry = new Registry();
      const labelNames = ['method', 'route', 'status_code'];
      const counter = new Counter({
        name: 'c_total',
        help: 'c',
        labelNames,
        registers: [registry],
      });
      const histogram = new Histogram({
        name: 'h_seconds',
        help: 'h',
        labelNames,
        buckets: BUCKETS,
        registers: [registry],
      });
      let i = 0;
      return () => {
        const labels = { method: 'GET', route: ROUTES[i++ & 3]!, status_code: '200' };
        histogram.observe(labels, 0.012);
        counter.inc(labels);
      };
    },
    iterations: 1_000_000,
  },
  {
    name: "metrics: negotiateFormat(Prometheus's Accept header)",
    setup: () => () => negotiateFormat(PROMETHEUS_ACCEPT),
    iterations: 200_000,
  },
]);
