// Packs every public package under packages/ (`pnpm pack`, as publishing would), installs the
// tarballs into a temporary project outside the workspace, and checks there what a user meets:
// require() and import() of every entry point expose the same names, the main factory exists,
// the types resolve and type-check under moduleResolution node16 (ESM and CJS) and bundler, and
// publint / arethetypeswrong find nothing. A package added under packages/ is covered the day it
// lands. Needs `pnpm build` first (`pnpm test` builds).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..');

interface Pkg {
  dir: string;
  name: string;
  factory: string;
  entries: string[];
  peers: Record<string, string>;
  tarball?: string;
}

const only = process.env.KOA_MESH_PACK_ONLY?.split(',').map((s) => s.trim());

const pkgs: Pkg[] = readdirSync(join(root, 'packages'))
  .map((d) => join(root, 'packages', d))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ dir, json: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ json }) => !json.private)
  // KOA_MESH_PACK_ONLY=@koa-mesh/breaker,... narrows the run while working on one package.
  .filter(({ json }) => !only || only.includes(json.name))
  .map(({ dir, json }) => ({
    dir,
    name: json.name as string,
    factory: json.koaMesh?.factory as string,
    entries: Object.keys(json.exports ?? {})
      .filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? json.name : `${json.name}/${k.slice(2)}`)),
    peers: (json.peerDependencies ?? {}) as Record<string, string>,
  }));

/** Every peer of every package, optional ones included (a subpath such as tracing/sdk needs its own). */
function peerSpecs(): string[] {
  const ranges = new Map<string, string>();
  for (const pkg of pkgs) {
    for (const [name, range] of Object.entries(pkg.peers)) {
      if (name === 'koa' || ranges.has(name)) continue;
      ranges.set(name, range);
    }
  }
  return [...ranges].map(([name, range]) => `${name}@${range}`);
}

const run = (cmd: string, args: string[], cwd: string, timeout = 120_000): string =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });

/** Runs a command and, on failure, throws its full output (jest shows it). */
function check(cmd: string, args: string[], cwd: string): string {
  try {
    return run(cmd, args, cwd);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${cmd} ${args.join(' ')} failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}`,
    );
  }
}

const bin = (name: string): string => join(root, 'node_modules', '.bin', name);

let consumer: string;

beforeAll(() => {
  consumer = mkdtempSync(join(tmpdir(), 'koa-mesh-pack-'));
  for (const pkg of pkgs) {
    if (!existsSync(join(pkg.dir, 'dist'))) {
      throw new Error(`${pkg.name} has no dist/: run \`pnpm build\` first (\`pnpm test\` does)`);
    }
    const out = check('pnpm', ['pack', '--pack-destination', consumer], pkg.dir).trim().split('\n');
    pkg.tarball = out[out.length - 1]!.trim();
  }
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'koa-mesh-consumer', private: true, version: '0.0.0' }, null, 2),
  );
  // Peers are installed explicitly, optional ones too, as a user of every entry point would;
  // so are the types a TypeScript user of Koa has.
  check(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      ...pkgs.map((p) => p.tarball!),
      ...peerSpecs(),
      'koa@^3',
      '@types/koa@^3',
      '@types/node@^20',
    ],
    consumer,
  );
}, 300_000);

afterAll(() => {
  if (consumer) rmSync(consumer, { recursive: true, force: true });
});

it('finds the public packages', () => {
  expect(pkgs.length).toBeGreaterThan(0);
  for (const pkg of pkgs) expect(typeof pkg.factory).toBe('string');
});

// One tsc run per resolution mode for every package at once (a tsc start costs seconds); the
// files are named after the package, so an error says whose types broke.
it('type-checks a consumer of every package under node16 (ESM and CJS) and bundler resolution', () => {
  const dir = mkdtempSync(join(consumer, 'tsc-'));
  const body = (pkg: Pkg): string =>
    [
      `import type { Middleware } from 'koa';`,
      `import { ${pkg.factory} } from '${pkg.name}';`,
      `type Mw = ReturnType<typeof ${pkg.factory}>;`,
      `export const asKoa = (mw: Mw): Middleware => mw;`,
      `export const factory: (...args: never[]) => unknown = ${pkg.factory};`,
      ...pkg.entries
        .filter((e) => e !== pkg.name)
        .map(
          (e, i) =>
            `import * as sub${i} from '${e}';\nexport const subKeys${i} = Object.keys(sub${i});`,
        ),
      '',
    ].join('\n');
  const node16: string[] = [];
  const bundler: string[] = [];
  for (const pkg of pkgs) {
    const slug = pkg.name.replace(/^@koa-mesh\//, '');
    for (const ext of ['mts', 'cts']) {
      writeFileSync(join(dir, `${slug}.${ext}`), body(pkg));
      node16.push(`${slug}.${ext}`);
    }
    writeFileSync(join(dir, `${slug}.bundler.ts`), body(pkg));
    bundler.push(`${slug}.bundler.ts`);
  }
  const base = {
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    types: ['node'],
    typeRoots: [join(consumer, 'node_modules', '@types')],
    target: 'ES2022',
  };
  writeFileSync(
    join(dir, 'tsconfig.node16.json'),
    JSON.stringify({
      compilerOptions: { ...base, module: 'node16', moduleResolution: 'node16' },
      files: node16,
    }),
  );
  writeFileSync(
    join(dir, 'tsconfig.bundler.json'),
    JSON.stringify({
      compilerOptions: { ...base, module: 'esnext', moduleResolution: 'bundler' },
      files: bundler,
    }),
  );
  check(bin('tsc'), ['-p', 'tsconfig.node16.json'], dir);
  check(bin('tsc'), ['-p', 'tsconfig.bundler.json'], dir);
});

describe.each(pkgs.map((p) => [p.name, p] as const))('%s', (_name, pkg) => {
  it('require() and import() expose the same names, including the main factory', () => {
    for (const entry of pkg.entries) {
      const cjs = JSON.parse(
        check(
          'node',
          [
            '-e',
            `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(entry)})).sort()))`,
          ],
          consumer,
        ),
      ) as string[];
      const esm = JSON.parse(
        check(
          'node',
          [
            '--input-type=module',
            '-e',
            `const m = await import(${JSON.stringify(entry)}); console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort()))`,
          ],
          consumer,
        ),
      ) as string[];
      expect(esm).toEqual(cjs);
      expect(cjs.length).toBeGreaterThan(0);
      if (entry === pkg.name) expect(cjs).toContain(pkg.factory);
    }
    const kind = check(
      'node',
      [
        '-e',
        `console.log(typeof require(${JSON.stringify(pkg.name)})[${JSON.stringify(pkg.factory)}])`,
      ],
      consumer,
    ).trim();
    expect(kind).toBe('function');
  });

  it('is clean under publint and arethetypeswrong', () => {
    const lint = check(bin('publint'), ['--strict', pkg.dir], root);
    expect(lint).not.toMatch(/error|warning/i);
    check(bin('attw'), [pkg.tarball!, '--profile', 'node16', '--format', 'ascii'], root);
  });
});
