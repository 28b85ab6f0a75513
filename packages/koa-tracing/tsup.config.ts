import { defineConfig } from 'tsup';

export default defineConfig({
  // `sdk` is the `@koa-mesh/tracing/sdk` subpath: it alone imports the SDK (optional peers).
  entry: { index: 'src/index.ts', sdk: 'src/sdk.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
});
