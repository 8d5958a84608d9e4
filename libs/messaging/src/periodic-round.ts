/**
 * A round of work run now and then every `everyMs`, one at a time: a tick while a round is still
 * running is skipped (a slow NATS must not pile requests up). The interval does not keep the process
 * alive, and `stop()` resolves once the round in flight has finished. `round` must not throw; a
 * rejection is swallowed so that the next tick runs.
 */
export class PeriodicRound {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly everyMs: number,
    private readonly round: () => Promise<unknown>,
  ) {}

  /** Runs a round now (not awaited: boot does not wait for it) and every `everyMs` after. */
  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
  }

  /** No more rounds; resolves when the one in flight, if any, has ended. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private tick(): void {
    this.running ??= this.round()
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => (this.running = undefined));
  }
}
