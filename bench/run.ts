// Entry point of `npm run bench -- NAME`: runs one benchmark by name.

const BENCHMARKS: Record<string, () => Promise<void>> = {
  apiserver: async () => (await import('./apiserver.js')).benchApiServer(),
  cluster: async () => (await import('./cluster.js')).benchCluster(),
  endpointslices: async () => (await import('./endpointslices.js')).benchEndpointSlices(),
  proxy: async () => (await import('./proxy.js')).benchProxy(),
  dns: async () => (await import('./dns.js')).benchDns(),
  netpol: async () => (await import('./netpol.js')).benchNetpol(),
  store: async () => (await import('./store.js')).benchStore(),
};

const name = process.argv[2];
const run = name !== undefined && Object.hasOwn(BENCHMARKS, name) ? BENCHMARKS[name] : undefined;
if (!run) {
  process.stderr.write(`bench: ${name ? `unknown benchmark "${name}"` : 'no benchmark named'}; ` +
    `choose one of: ${Object.keys(BENCHMARKS).join(', ')} (npm run bench -- NAME)\n`);
  process.exit(2);
}
run().then(
  () => { process.exitCode ??= 0; },
  (e: unknown) => {
    process.stderr.write(`bench ${name}: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
