import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The monorepo's root: the nearest folder above the working directory with pnpm-workspace.yaml. */
export function repoRoot(from: string = process.cwd()): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`testkit: no pnpm-workspace.yaml above ${from}`);
    dir = parent;
  }
}

/** `node` arguments that run a TypeScript file through tsx's loader (for child-process tests). */
export function nodeArgsFor(script: string): string[] {
  if (!script.endsWith('.ts') && !script.endsWith('.mts') && !script.endsWith('.cts'))
    return [script];
  const loader = join(repoRoot(), 'node_modules', 'tsx', 'dist', 'loader.mjs');
  return ['--import', pathToFileURL(loader).href, script];
}
