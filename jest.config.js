// One jest run for the whole workspace: a project per package and app that has a test/ folder,
// plus the repository-level tests in test/ (the pack test). TypeScript is transformed by swc;
// types are checked separately by `pnpm typecheck`.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

function project(dir, displayName) {
  return {
    displayName,
    rootDir: dir,
    testMatch: ['<rootDir>/test/**/*.test.ts'],
    testEnvironment: 'node',
    transform: { '^.+\\.(ts|mts|cts)$': swc },
    // Sources import each other with NodeNext's `.js` suffix; jest resolves the `.ts` file.
    moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  };
}

const projects = [];
for (const group of ['packages', 'apps']) {
  const base = join(root, group);
  if (!existsSync(base)) continue;
  for (const name of readdirSync(base).sort()) {
    const dir = join(base, name);
    if (existsSync(join(dir, 'test'))) projects.push(project(dir, name));
  }
}
projects.push({ ...project(root, 'repo'), testMatch: ['<rootDir>/test/**/*.test.ts'] });

export default {
  projects,
  testTimeout: 30_000,
  reporters: ['default', join(root, 'scripts/jest-summary-reporter.cjs')],
  globalSetup: join(root, 'scripts/jest-global-setup.mjs'),
  globalTeardown: join(root, 'scripts/jest-global-teardown.mjs'),
};
