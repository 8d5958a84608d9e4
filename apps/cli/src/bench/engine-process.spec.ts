import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { platform } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { EngineProcess, listenerPid, localServers, peakRssMiB, serverCpuSeconds } from './engine-process';

const linux = platform() === 'linux' ? it : it.skip;

describe('the local servers a bench measures', () => {
  linux('finds the process listening on a port, and its CPU time', async () => {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as { port: number }).port;
    try {
      expect(listenerPid(port)).toBe(process.pid);
      // This process is neither nats-server nor postgres: a forwarder on the port is not taken for the server.
      expect(localServers(`nats://127.0.0.1:${port}`, `postgres://postgres@127.0.0.1:${port}/db`)).toEqual({ nats: null, postgres: null });
      expect(listenerPid(port, [readFileSync('/proc/self/comm', 'utf8').trim()])).toBe(process.pid);
      const cpu = serverCpuSeconds({ nats: process.pid, postgres: process.pid });
      expect(cpu.natsServer).toBeGreaterThan(0);
      // The postgres reading adds the children (none here) to the same process, read a clock tick earlier.
      expect(cpu.postgres).toBeGreaterThanOrEqual(cpu.natsServer! - 0.011);
    } finally {
      await new Promise((done) => server.close(done));
    }
  });

  it('says nothing of servers on other machines, or of an embedded database', () => {
    expect(localServers('nats://nats.example:4222', undefined)).toEqual({ nats: null, postgres: null });
    expect(serverCpuSeconds({ nats: null, postgres: null })).toEqual({ natsServer: null, postgres: null });
  });

  linux('says nothing when nothing listens on the port', async () => {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as { port: number }).port;
    await new Promise((done) => server.close(done));
    expect(listenerPid(port)).toBeNull();
  });

  linux("reads each engine process's peak resident memory", () => {
    const engine = { children: [{ pid: process.pid } as ChildProcess], names: ['engine'] } as EngineProcess;
    const rss = peakRssMiB(engine)!;
    expect(rss.engine).toBeGreaterThanOrEqual(Math.floor(process.memoryUsage().rss / 1024 / 1024) - 1);
    expect(peakRssMiB({ ...engine, children: [{ pid: 2 ** 22 + 1 } as ChildProcess] })).toBeNull();
  });
});
