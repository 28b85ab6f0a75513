import { defineMicro } from '../lib/scenario.js';

/** Calibration: the harness's own per-operation cost, to read the other micro figures against. */
export default defineMicro([
  {
    name: 'harness: empty function call',
    setup: () => () => undefined,
    iterations: 1_000_000,
  },
]);
