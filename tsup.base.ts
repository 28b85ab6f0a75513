// The one build every public package shares: ESM + CommonJS + declarations for both, for Node 20.
// A package's tsup.config.ts calls this with its entries (and rarely an override).
import { defineConfig, type Options } from 'tsup';

export function packageBuild(
  entry: Options['entry'] = ['src/index.ts'],
  overrides: Options = {},
): ReturnType<typeof defineConfig> {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    ...overrides,
  });
}
