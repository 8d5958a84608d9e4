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
 * component reports while it fails and clears itself at its next success.
 */
export class Degradations {
  private readonly current = new Map<string, Degradation>();

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
    return next;
  }

  /** True when the component was degraded. */
  clear(component: string): boolean {
    return this.current.delete(component);
  }

  list(): Degradation[] {
    return [...this.current.values()];
  }
}

export const degradations = new Degradations();
