// Child process: loads one scenario file, starts the named scenario, reports its URL to the parent
// over IPC, and closes it when told (or when the parent goes away).
import { pathToFileURL } from 'node:url';
import type { Scenario } from './scenario.js';

const [file, name] = process.argv.slice(2);
if (!file || !name) throw new Error('usage: serve.ts <scenario-file> <scenario-name>');
const mod = (await import(pathToFileURL(file).href)) as { default: Scenario[] };
const scenario = mod.default.find((s) => s.name === name);
if (!scenario) throw new Error(`no scenario ${name} in ${file}`);
const started = await scenario.start();
process.send?.({ type: 'ready', url: started.url });
const stop = async (): Promise<void> => {
  await started.close();
  process.exit(0);
};
process.on('message', (msg: { type?: string }) => {
  if (msg?.type === 'stop') void stop();
  // The harness reads this process's CPU time before and after each load run: CPU per request is
  // the server's own cost, which the load generator's share of the machine does not blur.
  else if (msg?.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send?.({ type: 'cpu', micros: user + system });
  }
});
process.on('disconnect', () => void stop());
