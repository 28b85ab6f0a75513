import { discovery, type Strategy } from '@koa-mesh/discovery';
import { defineMicro } from '../lib/scenario.js';

const URLS = Array.from({ length: 100 }, (_, i) => `http://10.0.${i >> 8}.${i & 255}:8080`);

/** `client.pick()` over 100 in-memory instances: the whole per-call cost of choosing. */
function pickCase(strategy: Strategy): () => () => unknown {
  return () => {
    const mw = discovery({ services: { orders: URLS }, balancer: strategy, env: false });
    const { pick } = mw.client;
    pick('orders'); // opens the pool once
    return () => pick('orders');
  };
}

export default defineMicro([
  {
    name: 'discovery: pick p2c 100 instances',
    setup: pickCase('p2c'),
    iterations: 1_000_000,
  },
  {
    name: 'discovery: pick round-robin 100 instances',
    setup: pickCase('round-robin'),
    iterations: 1_000_000,
  },
  {
    name: 'discovery: pick consistent-hash 100 instances',
    setup: () => {
      const mw = discovery({ services: { orders: URLS }, balancer: 'consistent-hash', env: false });
      const { pick } = mw.client;
      const keys = Array.from({ length: 1024 }, (_, i) => `user-${i}`);
      let i = 0;
      return () => pick('orders', { hashKey: keys[i++ & 1023]! });
    },
    iterations: 1_000_000,
  },
]);
