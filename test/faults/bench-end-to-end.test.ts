import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase } from '@app/testing';
import { childPids } from '../../apps/cli/src/bench/engine-process';

/**
 * `arbiter bench`'s end-to-end scenario, from dist/ as a user runs it (it spawns the engine under
 * test from there, which is why it lives with the suite that builds first): one process per
 * service on PostgreSQL with CPU profiles, and the all-in-one engine on its embedded database.
 * Short runs: the shape and the accounting are checked, never a speed.
 */
const CLI = resolve(__dirname, '..', '..', 'dist', 'apps', 'cli', 'src', 'main.js');
const run = promisify(execFile);

async function bench(args: string[]) {
  const { stdout } = await run(
    process.execPath,
    [
      CLI,
      'bench',
      '--json',
      '--scenarios',
      'endToEnd',
      '--seconds',
      '2',
      '--events',
      '3000',
      '--latency-rate',
      '200',
      '--latency-seconds',
      '2',
      ...args,
    ],
    { timeout: 180_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout);
}

describe('arbiter bench end to end', () => {
  it('runs every service in its own process on PostgreSQL, counts every click through to its stored verdict, and profiles them', async () => {
    const db = await createTestDatabase();
    const profiles = mkdtempSync(join(tmpdir(), 'arbiter-bench-prof-'));
    try {
      const result = await bench(['--split', '--database-url', db.url, '--profile', profiles]);
      const { sustained, paced, processes, database } = result.endToEnd;
      expect({ processes, database }).toEqual({ processes: 5, database: 'external' });
      expect(sustained.events).toBeGreaterThan(0);
      expect(sustained.decisionLatencyMs.count).toBe(sustained.events);
      // The fixed-rate run offers exactly rate × seconds, in requests of rate / 100.
      expect(paced).toMatchObject({ events: 400, batch: 2, offeredRate: 200, concurrency: 100 });
      // Open-loop: every request's lag behind its due time is recorded (200 requests of 2).
      expect(paced.sendLagMs.count).toBe(200);
      expect(sustained.sendLagMs).toBeNull();
      expect(paced.decisionLatencyMs.count).toBe(400);
      expect(result.figures.map((f: { figure: string }) => f.figure)).toEqual(
        expect.arrayContaining([
          'end to end, sustained 2 s',
          'decision latency p99 at 200/s',
          'NATS server CPU per 1,000 events, sustained (local server)',
          'PostgreSQL (every process) CPU per 1,000 events, sustained (local server)',
        ]),
      );
      expect(readdirSync(profiles).filter((f) => f.endsWith('.cpuprofile'))).toHaveLength(5);
      // The CPU each process used per 1,000 events, read from the OS: the work per event, whatever else runs on the machine.
      const cpu = result.endToEnd.cpuMsPer1000Events;
      expect(Object.keys(cpu).sort()).toEqual(['api', 'gateway', 'notifier', 'recorder', 'scorer', 'total']);
      expect(cpu.scorer).toBeGreaterThan(0);
      expect(cpu.total).toBeCloseTo(cpu.api + cpu.gateway + cpu.notifier + cpu.recorder + cpu.scorer, 0);
      // Beside it, the local NATS server's and PostgreSQL's (shared with other tests here: only that they are read).
      expect(result.endToEnd.serverCpuMsPer1000Events.natsServer).toBeGreaterThan(0);
      expect(result.endToEnd.serverCpuMsPer1000Events.postgres).toBeGreaterThan(0);
      // The bench's own queries (counting the stored rows until all are there) are measured apart: not the engine's work.
      expect(result.endToEnd.serverCpuMsPer1000Events.postgresBenchQueries).toEqual(expect.any(Number));
      expect(Object.keys(result.endToEnd.peakRssMiB).sort()).toEqual(['api', 'gateway', 'notifier', 'recorder', 'scorer']);
    } finally {
      rmSync(profiles, { recursive: true, force: true });
      await db.drop();
    }
  });

  it('scales out: one scorer process per partition and several recorders, every click still counted once', async () => {
    const db = await createTestDatabase();
    try {
      const result = await bench(['--split', '--database-url', db.url, '--partitions', '2', '--recorders', '2']);
      const { sustained, paced, processes, partitions } = result.endToEnd;
      // recorder ×2, scorer ×2, notifier, api, gateway
      expect({ processes, partitions }).toEqual({ processes: 7, partitions: 2 });
      expect(Object.keys(result.endToEnd.cpuMsPer1000Events)).toEqual(
        expect.arrayContaining(['scorer', 'scorer.2', 'recorder', 'recorder.2']),
      );
      expect(sustained.decisionLatencyMs.count).toBe(sustained.events);
      expect(paced.decisionLatencyMs.count).toBe(400);
      // Both partitions scored: the clicks' addresses spread over them.
      const { Pool } = await import('pg');
      const pool = new Pool({ connectionString: db.url, max: 1 });
      try {
        const { rows } = await pool.query('SELECT partition, count(*)::int AS n FROM clicks GROUP BY partition ORDER BY partition');
        expect(rows.map((r) => r.partition)).toEqual([0, 1]);
      } finally {
        await pool.end();
      }
    } finally {
      await db.drop();
    }
  });

  it('stops the engine it started when it is interrupted, instead of leaving it running', async () => {
    const bench = spawn(process.execPath, [CLI, 'bench', '--json', '--scenarios', 'endToEnd', '--seconds', '60', '--events', '2000000'], {
      stdio: 'ignore',
    });
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
      } catch {
        return false;
      }
    };
    try {
      // The engine (`arbiter start`) is up and taking traffic: its database has tables, the bench is sending.
      let engine: number[] = [];
      for (let i = 0; i < 600 && !engine.length; i++) {
        await new Promise((r) => setTimeout(r, 100));
        engine = childPids(bench.pid!);
      }
      expect(engine).toHaveLength(1);
      // Its data directory (the embedded database) is the bench's to remove, interrupted or not.
      const dataDir = readFileSync(`/proc/${engine[0]}/environ`, 'utf8')
        .split('\0')
        .find((v) => v.startsWith('ARBITER_DATA_DIR='))!
        .slice('ARBITER_DATA_DIR='.length);
      expect(existsSync(dataDir)).toBe(true);
      await new Promise((r) => setTimeout(r, 8_000));
      const exited = new Promise<number | null>((done) => bench.once('exit', (code) => done(code)));
      bench.kill('SIGTERM');
      expect(await exited).toBe(143);
      for (let i = 0; i < 50 && alive(engine[0]); i++) await new Promise((r) => setTimeout(r, 100));
      expect(alive(engine[0])).toBe(false);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      if (bench.exitCode === null) bench.kill('SIGKILL');
    }
  });

  it("measures the scorer's memory in a probe that holds only the engine, fed JSON lines by the bench", async () => {
    const { stdout } = await run(process.execPath, [CLI, 'bench', '--json', '--scenarios', 'memory', '--memory-clicks', '3000'], {
      timeout: 120_000,
    });
    const { memory, figures } = JSON.parse(stdout);
    expect(memory.clicksInState).toBeGreaterThan(2500);
    expect(memory.clicksInState).toBeLessThanOrEqual(3000);
    expect(memory.rssMiB).toBeGreaterThan(memory.baselineRssMiB);
    expect(figures[0]).toMatchObject({
      figure: `scorer memory, ${memory.clicksInState.toLocaleString('en-US')} clicks`,
      target: '≤ 1,024',
    });
  });

  it('measures both shapes in one run, the all-in-one engine on its embedded database among them, and refuses --split without a database', async () => {
    const db = await createTestDatabase();
    try {
      const result = await bench(['--shapes', 'embedded,split', '--database-url', db.url]);
      expect(result.endToEnd).toBeUndefined();
      expect(result.shapes.embedded.endToEnd).toMatchObject({ processes: 1, database: 'embedded', paced: { events: 400 } });
      expect(result.shapes.split.endToEnd).toMatchObject({ processes: 5, database: 'external', paced: { events: 400 } });
      for (const shape of ['embedded', 'split'])
        expect(result.shapes[shape].endToEnd.sustained.decisionLatencyMs.count).toBe(result.shapes[shape].endToEnd.sustained.events);
      expect(result.figures.map((f: { figure: string }) => f.figure)).toEqual(
        expect.arrayContaining([
          'end to end, sustained 2 s (embedded)',
          'decision latency p99 at 200/s (embedded)',
          'end to end, sustained 2 s (split, PostgreSQL)',
          'decision latency p99 at 200/s (split, PostgreSQL)',
        ]),
      );
    } finally {
      await db.drop();
    }
    await expect(bench(['--split'])).rejects.toMatchObject({
      stderr: expect.stringContaining('services in separate processes need --database-url'),
    });
  });
});
