// node sdkproc.mjs <variant> : whole request in-process with the OTel SDK, span ended on close
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import Koa from 'koa';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { context, trace } from '@opentelemetry/api';
const variant = process.argv[2];
const dist = process.argv[3] ?? '@koa-mesh/tracing';
let n = 0;
const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor({ export(s, d) { n += s.length; d({ code: 0 }); }, shutdown: () => Promise.resolve() })] });
provider.register();
const app = new Koa();
if (variant === 'floor') {
  const tracer = trace.getTracer('floor');
  app.use(async (ctx, next) => { const span = tracer.startSpan('GET'); try { await context.with(trace.setSpan(context.active(), span), next); } finally { span.end(); } });
} else if (variant === 'tracing') {
  const { tracing } = await import(dist);
  app.use(tracing());
}
app.use((ctx) => { ctx.body = { id: 1, name: 'ada' }; });
const cb = app.callback();
const sock = new Socket();
const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const sink = new Writable({ write(c, e, done) { done(); } });
sink.writable = true;
async function one() {
  const req = new IncomingMessage(sock);
  req.method = 'GET'; req.url = '/users/1';
  req._addHeaderLines(['host', '127.0.0.1:3000', 'user-agent', 'bench', 'traceparent', TP], 6);
  const res = new ServerResponse(req);
  res.assignSocket(sink);
  const done = new Promise((resolve) => res.once('finish', () => { res.detachSocket(sink); res.emit('close'); resolve(); }));
  await cb(req, res);
  await done;
}
async function batch(k) { const t = process.hrtime.bigint(); for (let i = 0; i < k; i++) await one(); return Number(process.hrtime.bigint() - t) / k; }
await batch(50000);
const xs = []; for (let i = 0; i < 15; i++) xs.push(Math.round(await batch(10000)));
xs.sort((a, b) => a - b);
await provider.forceFlush();
console.log(variant.padEnd(8), 'min', xs[0], 'p50', xs[7], 'spans', n);
