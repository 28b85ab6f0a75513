// Type-checks the TypeScript examples of every README (root, packages/*, apps/*) against the
// current sources, so that an example calling a method that does not exist, or passing an option
// the factory rejects, fails here rather than in a user's editor.
//
// Conventions for README authors:
//
// - Every ```ts / ```typescript fenced block is checked, each as an ES module of its own
//   (`.mts`, NodeNext, the strict settings of tsconfig.base.json). `@koa-mesh/<name>` and
//   `@koa-mesh/<name>/<subpath>` resolve to the package's `src/index.ts` / `src/<subpath>.ts`;
//   other imports (koa, @koa/router, undici, ioredis, prom-client, @opentelemetry/*...) resolve
//   from the README's own folder first, then from the workspace package that has them.
// - A block may use the names of PRELUDE below without defining them (`app`, `router`, `ctx`,
//   `mesh`, `log`, ...): they are ambient declarations, so a block that defines its own `app`
//   shadows the prelude's. Add a name there rather than loosening a check.
// - A block that is deliberately not TypeScript (pseudo-code, an object shown as a literal,
//   output) opts out with a reason, either in the fence's info string:
//       ```ts no-check: shows the shape of ctx.state.canary, not code
//   or in an HTML comment on the line before the fence (blank lines allowed between):
//       <!-- not type-checked: shows the shape of ctx.state.canary, not code -->
//   An opt-out without a reason, or a comment that is not followed by a ts block, fails.
//
// All blocks are compiled in one Program and only the blocks are checked (the sources are
// checked by `pnpm typecheck`), so the whole run costs one tsc start.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import ts from 'typescript';

const root = join(__dirname, '..');

/**
 * Names README fragments may use without defining them. Ambient (a global script), so a block's
 * own declaration of the same name wins. Keep each one typed as precisely as a reader assumes.
 */
const PRELUDE = `
/** The application the example adds to. */
declare const app: import('koa');
/** A router of the application (@koa/router). */
declare const router: import('@koa/router').Router;
/** The context of the request being handled. */
declare const ctx: import('koa').Context;
/** The application's discovery middleware: \`const mesh = discovery({ ... })\`. */
declare const mesh: import('@koa-mesh/discovery').DiscoveryMiddleware;
/** A pino-style structured logger. */
declare const log: {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
};
/** The application's own route handler. */
declare const handler: import('koa').Middleware;
/** The application's authentication middleware (sets ctx.state.user). */
declare const authenticate: import('koa').Middleware;
/** The application's JSON client: GET url, parse the body. */
declare function fetchJson(url: string, signal?: AbortSignal): Promise<unknown>;
/** A circuit breaker guarding calls to a payments service. */
declare const paymentsBreaker: import('@koa-mesh/breaker').CircuitBreaker;
/** Resolves once the application's database migrations have run, rejects otherwise. */
declare function migrationsApplied(): Promise<void>;
/** The OpenTelemetry SDK's tracer provider. */
declare const tracerProvider: import('@opentelemetry/sdk-trace-node').NodeTracerProvider;
`;

/**
 * The documented \`ctx.state\` fields (see CONTRIBUTING.md), typed for every block: Koa's own
 * typing leaves \`ctx.state\` \`any\`, which would let \`ctx.state.discovery.anything()\` pass.
 * Undocumented fields stay \`any\`, as in Koa.
 */
const STATE = `
import type { CanaryDecision } from '@koa-mesh/canary-router';
import type { DiscoveryClient } from '@koa-mesh/discovery';
import type { TracingState } from '@koa-mesh/tracing';

declare module 'koa' {
  interface DefaultState extends TracingState {
    /** @koa-mesh/discovery */
    discovery: DiscoveryClient;
    /** @koa-mesh/canary-router */
    version?: string;
    canary?: CanaryDecision;
    /** @koa-mesh/breaker: aborted when the guarded request times out. */
    signal?: AbortSignal;
    /** The application's authenticated user, set by its \`authenticate\` middleware. */
    user: { id: string };
  }
}
`;

interface Block {
  /** README path relative to the repository root. */
  readme: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** Spaces stripped from each line (a fence inside a list item). */
  indent: number;
  code: string;
  /** The reason given when the block opts out of the check. */
  optOut?: string;
}

interface Problem {
  readme: string;
  line: number;
  message: string;
}

const OPT_OUT_COMMENT = /^\s*<!--\s*not type-checked\b:?\s*(.*?)\s*-->\s*$/;
const TS_LANGS = new Set(['ts', 'typescript']);

/** The ts blocks of one README, and the opt-out markers that are malformed or stray. */
function extract(readme: string, text: string): { blocks: Block[]; problems: Problem[] } {
  const lines = text.split(/\r?\n/);
  const blocks: Block[] = [];
  const problems: Problem[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!);
    if (!open) {
      const stray = OPT_OUT_COMMENT.exec(lines[i]!);
      if (stray) {
        let next = i + 1;
        while (next < lines.length && lines[next]!.trim() === '') next++;
        const fence = /^ *(`{3,}|~{3,})\s*(\S*)/.exec(lines[next] ?? '');
        if (!fence || !TS_LANGS.has(fence[2]!.toLowerCase())) {
          problems.push({
            readme,
            line: i + 1,
            message: '`<!-- not type-checked -->` is not followed by a ```ts block',
          });
        }
      }
      continue;
    }
    const indent = open[1]!.length;
    const fence = open[2]!;
    const [lang = '', ...rest] = open[3]!.trim().split(/\s+/);
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length; i++) {
      const close = /^ *(`{3,}|~{3,})\s*$/.exec(lines[i]!);
      if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) break;
      body.push(lines[i]!.replace(new RegExp(`^ {0,${indent}}`), ''));
    }
    if (!TS_LANGS.has(lang.toLowerCase())) continue;
    const block: Block = { readme, line: start + 1, indent, code: body.join('\n') };
    const attrs = rest.join(' ');
    if (attrs !== '') {
      const m = /^no-check\b:?\s*(.*)$/.exec(attrs);
      if (!m) {
        problems.push({
          readme,
          line: start + 1,
          message: `unknown fence attribute \`${attrs}\` (only \`no-check: <reason>\`)`,
        });
      } else {
        block.optOut = m[1]!.trim();
      }
    }
    let prev = start - 1;
    while (prev >= 0 && lines[prev]!.trim() === '') prev--;
    const comment = prev >= 0 ? OPT_OUT_COMMENT.exec(lines[prev]!) : null;
    if (comment) block.optOut = comment[1]!.trim();
    if (block.optOut === '') {
      problems.push({
        readme,
        line: start + 1,
        message: 'opts out of the type check without a reason (`no-check: <why>`)',
      });
    }
    blocks.push(block);
  }
  return { blocks, problems };
}

/** README.md of the root, of every package and of every app. */
function findReadmes(): string[] {
  const found = ['README.md'];
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, group)).sort()) {
      const rel = `${group}/${name}/README.md`;
      if (existsSync(join(root, rel))) found.push(rel);
    }
  }
  return found;
}

/** `@koa-mesh/<name>` → src/index.ts and `@koa-mesh/<name>/<sub>` → src/<sub>.ts, from exports. */
function workspacePaths(): Record<string, string[]> {
  const paths: Record<string, string[]> = {};
  for (const dir of readdirSync(join(root, 'packages'))) {
    const pkgDir = join(root, 'packages', dir);
    if (!existsSync(join(pkgDir, 'package.json'))) continue;
    const json = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      name: string;
      exports?: Record<string, unknown>;
    };
    for (const key of Object.keys(json.exports ?? { '.': null })) {
      if (key === './package.json') continue;
      const sub = key === '.' ? 'index' : key.slice(2);
      const file = join(pkgDir, 'src', `${sub}.ts`);
      if (!existsSync(file)) continue;
      paths[key === '.' ? json.name : `${json.name}/${sub}`] = [file];
    }
  }
  return paths;
}

/** Where a README example's third-party imports resolve when the README's folder lacks them. */
function fallbackDirs(): string[] {
  return ['apps', 'packages'].flatMap((group) =>
    readdirSync(join(root, group))
      .sort()
      .map((name) => join(root, group, name))
      .filter((dir) => existsSync(join(dir, 'node_modules'))),
  );
}

function compilerOptions(): ts.CompilerOptions {
  const base = ts.readConfigFile(join(root, 'tsconfig.base.json'), (f) => ts.sys.readFile(f));
  if (base.error) throw new Error(ts.flattenDiagnosticMessageText(base.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(base.config, ts.sys, root);
  return {
    ...parsed.options,
    noEmit: true,
    declaration: false,
    sourceMap: false,
    // Node's types only: an example must not lean on jest's globals.
    types: ['node'],
    paths: workspacePaths(),
  };
}

interface Result {
  problems: Problem[];
  ms: number;
}

/** Compiles every block in one Program and maps each diagnostic back to its README line. */
function typeCheck(blocks: Block[]): Result {
  const started = performance.now();
  const options = compilerOptions();
  const sources = new Set(Object.values(options.paths ?? {}).flat());
  const virtual = new Map<string, { text: string; block?: Block }>();
  const preludeFile = join(root, '__readme_prelude__.d.ts');
  virtual.set(preludeFile, { text: PRELUDE });
  virtual.set(join(root, '__readme_state__.d.ts'), { text: STATE });
  for (const block of blocks.filter((b) => b.optOut === undefined)) {
    const file = join(root, dirname(block.readme), `README.md.L${block.line}.mts`);
    virtual.set(file, { text: block.code, block });
  }

  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f);
  host.readFile = (f) => virtual.get(f)?.text ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, ...rest) => {
    const v = virtual.get(f);
    return v
      ? ts.createSourceFile(f, v.text, lang, true)
      : getSourceFile.call(host, f, lang, ...rest);
  };
  const cache = ts.createModuleResolutionCache(root, (f) => f, options);
  const fallbacks = fallbackDirs();
  const misresolved: string[] = [];
  host.resolveModuleNameLiterals = (literals, containingFile, redirected, opts, sourceFile) =>
    literals.map((literal) => {
      const mode = ts.getModeForUsageLocation(sourceFile, literal, opts);
      const resolve = (from: string) =>
        ts.resolveModuleName(literal.text, from, opts, host, cache, redirected, mode);
      let resolved = resolve(containingFile);
      if (!resolved.resolvedModule && virtual.has(containingFile)) {
        for (const dir of fallbacks) {
          const attempt = resolve(join(dir, '__readme_example__.mts'));
          if (attempt.resolvedModule) {
            resolved = attempt;
            break;
          }
        }
      }
      // A workspace import that missed `paths` would check against dist/ (or nothing).
      const target = resolved.resolvedModule?.resolvedFileName;
      if (literal.text.startsWith('@koa-mesh/') && !(target && sources.has(target))) {
        misresolved.push(`${literal.text} from ${relative(root, containingFile)} → ${target}`);
      }
      return resolved;
    });

  const program = ts.createProgram({ rootNames: [...virtual.keys()], options, host });
  const problems: Problem[] = program.getOptionsDiagnostics().map((d) => ({
    readme: '(compiler options)',
    line: 0,
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
  for (const m of misresolved) {
    problems.push({
      readme: '(paths)',
      line: 0,
      message: `not resolved to a package's src/: ${m}`,
    });
  }
  for (const [file, { block }] of virtual) {
    const sf = program.getSourceFile(file)!;
    const diagnostics = [
      ...program.getSyntacticDiagnostics(sf),
      ...program.getSemanticDiagnostics(sf),
    ];
    for (const d of diagnostics) {
      const at = d.start === undefined ? undefined : sf.getLineAndCharacterOfPosition(d.start);
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n    ');
      if (!block) {
        problems.push({ readme: `(${basename(file)})`, line: (at?.line ?? 0) + 1, message: text });
        continue;
      }
      problems.push({
        readme: block.readme,
        // The block's first line is the line after the fence.
        line: block.line + 1 + (at?.line ?? 0),
        message: `TS${d.code}: ${text}${at ? ` (column ${at.character + 1 + block.indent}, block at line ${block.line})` : ''}`,
      });
    }
  }
  return { problems, ms: performance.now() - started };
}

const format = (p: Problem): string => `${p.readme}:${p.line}: ${p.message}`;

// A README that is known to be wrong in several ways, compiled in the same Program as the real
// ones: proves that an error is caught and reported at its README line (also inside a list
// item), that the prelude, the typed ctx.state and the workspace paths are in effect, that both
// opt-outs skip their block, and that an opt-out needs a reason and a ts block to apply to.
const SELF_TEST = 'test/(self-test)/README.md';
const SELF_TEST_TEXT = [
  '# broken on purpose',
  '',
  '```ts',
  "import { breaker } from '@koa-mesh/breaker';",
  '',
  'app.use(breaker({ failureTreshold: 5 }));',
  'mesh.client.resolverr;',
  'ctx.state.discovery.resolverr;',
  '```',
  '',
  '```ts no-check:',
  'not code',
  '```',
  '',
  '```ts no-check: pseudo-code',
  'not code',
  '```',
  '',
  '<!-- not type-checked: shell output -->',
  '',
  '```typescript',
  'not code',
  '```',
  '',
  '<!-- not type-checked: stray -->',
  '```sh',
  'ls',
  '```',
  '',
  '- a list item:',
  '',
  '  ```ts',
  "  const n: number = 'one';",
  '  ```',
].join('\n');

const readmes = findReadmes();
const extracted = new Map(
  [...readmes.map((r) => [r, readFileSync(join(root, r), 'utf8')] as const)]
    .concat([[SELF_TEST, SELF_TEST_TEXT]])
    .map(([r, text]) => [r, extract(r, text)] as const),
);
let result: Result;

beforeAll(() => {
  result = typeCheck([...extracted.values()].flatMap((e) => e.blocks));
  const rows = readmes.map((r) => {
    const { blocks } = extracted.get(r)!;
    const out = blocks.filter((b) => b.optOut !== undefined).length;
    return `  ${r.padEnd(40)} ${String(blocks.length - out).padStart(3)} checked ${String(out).padStart(3)} opted out`;
  });
  const all = readmes.flatMap((r) => extracted.get(r)!.blocks);
  const out = all.filter((b) => b.optOut !== undefined).length;
  console.log(
    [
      `README examples: ${all.length - out} type-checked, ${out} opted out, in ${(result.ms / 1000).toFixed(1)} s`,
      ...rows,
    ].join('\n'),
  );
}, 120_000);

const problemsOf = (readme: string): string[] => [
  ...extracted.get(readme)!.problems.map(format),
  ...result.problems.filter((p) => p.readme === readme).map(format),
];

it('finds the root README, every package README and the demo README', () => {
  expect(readmes).toContain('README.md');
  expect(readmes).toContain('apps/demo-user-service/README.md');
  for (const dir of readdirSync(join(root, 'packages'))) {
    const json = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'));
    if (!json.private) expect(readmes).toContain(`packages/${dir}/README.md`);
  }
});

it('compiles with the repository settings and the prelude', () => {
  expect(result.problems.filter((p) => p.readme.startsWith('(')).map(format)).toEqual([]);
});

it.each(readmes)('%s: every ts example type-checks against the current sources', (readme) => {
  expect(problemsOf(readme).join('\n')).toBe('');
});

it('reports a broken example with its README path, line and the compiler message', () => {
  const problems = problemsOf(SELF_TEST);
  const at = (line: number, message: string): RegExp =>
    new RegExp(`^${reEscape(SELF_TEST)}:${line}: ${message}`);
  expect(problems).toEqual([
    `${SELF_TEST}:11: opts out of the type check without a reason (\`no-check: <why>\`)`,
    `${SELF_TEST}:25: \`<!-- not type-checked -->\` is not followed by a \`\`\`ts block`,
    expect.stringMatching(at(6, `TS2561: .*'failureTreshold'.*'failureThreshold'`)),
    expect.stringMatching(at(7, `TS2551: .*'resolverr'.*DiscoveryClient`)),
    expect.stringMatching(at(8, `TS2551: .*'resolverr'.*DiscoveryClient`)),
    expect.stringMatching(at(33, `TS2322: .*column 9, block at line 32`)),
  ]);
  const optOuts = extracted.get(SELF_TEST)!.blocks.map((b) => b.optOut);
  expect(optOuts).toEqual([undefined, '', 'pseudo-code', 'shell output', undefined]);
});

function reEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
