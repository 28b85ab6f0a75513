import { packageBuild } from '../../tsup.base.js';

// `sdk` is the `@koa-mesh/tracing/sdk` subpath: it alone imports the SDK (optional peers).
export default packageBuild({ index: 'src/index.ts', sdk: 'src/sdk.ts' });
