/** Why one part of the process cannot do its work right now (it keeps its input and retries). */
export interface Degradation {
  /** What is degraded, e.g. `consumer recorder-verdicts`. */
  component: string;
  /** What the failure is blamed on: `database`, `broker`, `configuration`, `unknown`. */
  cause: string;
  /** Short stable description, e.g. `database 42501 insufficient_privilege`. */
  reason: string;
  /** The last error's message. */
  error: string;
  since: string;
  failures: number;
}

/**
 * Process-wide register of degraded components, read by `GET /health` of every service of the
 * process (an all-in-one engine answers for all of them on the gateway and API ports too). A
 * component reports while it fails and clears itself at its next success. The services an
 * all-in-one engine runs in worker threads have a register of their own each: `watch` hands its
 * changes to the main thread, which keeps them with `mirror`.
 */
export class Degradations {
  private readonly current = new Map<string, Degradation>();
  private readonly mirrored = new Map<string, Degradation[]>();
  private readonly watchers = new Set<(list: Degradation[]) => void>();

  report(component: string, cause: string, reason: string, error: string): Degradation {
    const known = this.current.get(component);
    const next: Degradation = {
      component,
      cause,
      reason,
      error: error.slice(0, 500),
      since: known?.reason === reason ? known.since : new Date().toISOString(),
      failures: (known?.failures ?? 0) + 1,
    };
    this.current.set(component, next);
    this.changed();
    return next;
  }

  /** True when the component was degraded. */
  clear(component: string): boolean {
    const was = this.current.delete(component);
    if (was) this.changed();
    return was;
  }

  /** This register's entries and those mirrored from other threads. */
  list(): Degradation[] {
    return [...this.current.values(), ...[...this.mirrored.values()].flat()];
  }

  /** Calls `listener` with this register's own entries after each change. */
  watch(listener: (list: Degradation[]) => void): void {
    this.watchers.add(listener);
  }

  /** Keeps another thread's entries under `source` (an empty list forgets them). */
  mirror(source: string, list: Degradation[]): void {
    if (list.length) this.mirrored.set(source, list);
    else this.mirrored.delete(source);
  }

  private changed(): void {
    if (!this.watchers.size) return;
    const own = [...this.current.values()];
    for (const w of this.watchers) w(own);
  }
}

export const degradations = new Degradations();
