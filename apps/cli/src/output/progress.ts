import { SingleBar, Presets } from 'cli-progress';

export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void;
  stop(): void;
}

/** A progress bar on a terminal (stderr), nothing otherwise (pipes, CI, --json). */
export function progress(label: string, total: number, enabled = process.stderr.isTTY): Progress {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left {note}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
    },
    Presets.shades_classic,
  );
  bar.start(total, 0, { note: '' });
  return {
    update: (done, extra) => bar.update(Math.min(done, total), extra ?? {}),
    stop: () => bar.stop(),
  };
}
