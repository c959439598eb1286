// A worker in its own process (the tests SIGKILL it): the built @tessera/distributed on the CPU backend.
import { createCpuBackend } from '@tessera/core';
import { startWorker } from '@tessera/distributed';

const o = JSON.parse(process.env.TESSERA_WORKER ?? '{}');
const w = await startWorker({
  redis: { url: o.url },
  queue: o.queue,
  backend: createCpuBackend(),
  name: o.name,
  outputRoot: o.outputRoot,
  lockDuration: o.lockDuration,
  stalledInterval: o.stalledInterval,
  log: (line) => console.log(line),
});
process.on('SIGTERM', () => {
  w.close().then(() => process.exit(0));
});
