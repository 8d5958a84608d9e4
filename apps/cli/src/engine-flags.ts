/**
 * Node flags every engine process starts with, however it is started: `npm start`, `arbiter start`
 * (the CLI's shebang), one process per service (docker-compose's NODE_OPTIONS, docs/scaling.md) and
 * `arbiter bench`'s engines. A young generation of 32 MiB semi-spaces instead of V8's 16: under load
 * the objects of a batch in flight (events, verdicts, their promises) outlived two scavenges and were
 * promoted, then collected by the old generation's mark-compact. Measured with `arbiter bench`
 * (docs/performance.md, 2026-12-02): the split engine's CPU per event 2-11 % lower in every pair of
 * runs, the gateway's resident memory about 30-40 MiB higher (64 MiB semi-spaces cost 60-120 MiB a
 * process for no more gain). A V8 heap's size is fixed when the process starts: these cannot be set
 * from inside it.
 */
export const ENGINE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
