import { defineConfig } from 'tsup';

// The app is run, not published: ESM entry points only, dependencies left external so that
// `@koa-mesh/*` resolve to the built workspace packages.
export default defineConfig({
  entry: ['src/users-main.ts', 'src/orders-main.ts', 'src/demo.ts'],
  format: ['esm'],
  dts: false,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
});
