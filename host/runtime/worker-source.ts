/**
 * How to start one of the runtime's worker threads, by the base name of its script in this
 * directory (`guest-worker`, `load-probe-worker`): the compiled `.js` beside this file (dist/) or,
 * when running from TypeScript source (tests, `tsx`), a bootstrap that registers tsx first.
 */
export function workerSource(name: string): { code: string | URL; eval: boolean } {
  if (!import.meta.url.endsWith(".ts")) {
    return { code: new URL(`./${name}.js`, import.meta.url), eval: false };
  }
  const url = JSON.stringify(new URL(`./${name}.ts`, import.meta.url).href);
  const code = `(async () => { const { register } = await import("tsx/esm/api"); register(); await import(${url}); })().catch((error) => { console.error(error); process.exit(1); });`;
  return { code, eval: true };
}
