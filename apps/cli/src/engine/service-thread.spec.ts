import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArbiterConfig } from '@app/config';
import { startService } from './service-thread';

/** A service thread that starts, says so, then dies of an uncaught error, as a crashed scorer would. */
const CRASHING = `
const { parentPort } = require('node:worker_threads');
parentPort.postMessage({ type: 'ready' });
setTimeout(() => { throw new Error('boom in the thread'); }, 50);
`;

describe('a service thread that ends on its own', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'arbiter-thread-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is reported as a failure, and stopping it afterwards returns at once instead of waiting out the stop timeout', async () => {
    const script = join(dir, 'crashing.js');
    writeFileSync(script, CRASHING);
    let reported: Error | undefined;
    const failed = new Promise<Error>((done) => {
      void startService('scorer', {} as ArbiterConfig, {
        script,
        onFailure: (e) => {
          reported = e;
          done(e);
        },
      }).then((service) => failed.then(() => service.stop()).then(() => (stoppedCleanly = true)));
    });
    let stoppedCleanly = false;
    await failed;
    expect(reported!.message).toMatch(/the scorer's thread ended on its own \(exit code 1\).*boom in the thread/s);
    // Before, stop() waited for an answer the dead thread could not give, and threw after 60 s.
    for (let i = 0; i < 100 && !stoppedCleanly; i++) await new Promise((r) => setTimeout(r, 100));
    expect(stoppedCleanly).toBe(true);
  }, 30_000);
});
