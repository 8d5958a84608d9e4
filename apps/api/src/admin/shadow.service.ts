import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { NoShadowError, RuleSetStore, StaleShadowError } from '@app/live-config';
import { ShadowOutcomeRepository } from '@app/storage';
import { candidateOf, trialError } from './candidates';

/**
 * The shadow rule set: a candidate every scorer judges live traffic with beside the active rules,
 * its outcomes recorded and never acted on; started, stopped and promoted by an admin.
 */
@Injectable()
export class ShadowService {
  constructor(
    private readonly store: RuleSetStore,
    private readonly outcomes: ShadowOutcomeRepository,
  ) {}

  /** The running shadow (without its configuration), how often it disagrees, and the latest `examples` disagreements. */
  async show(examples: number) {
    const shadow = await this.store.shadow();
    if (!shadow) return { shadow: null, summary: null, examples: [] };
    const { config: _config, ...about } = shadow;
    const report = await this.outcomes.report(shadow.label, examples);
    return { shadow: about, summary: report.summary, examples: report.examples };
  }

  /** Replaces any running shadow (400 for an invalid rule set; nothing changes then). */
  async start(body: { scope?: string; ruleset: Record<string, unknown> | null }, actor: string) {
    try {
      const { config: _config, ...about } = await this.store.setShadow(candidateOf(body), actor);
      return about;
    } catch (e) {
      throw trialError(e);
    }
  }

  /** Its recorded outcomes stay. */
  async stop(actor: string) {
    await this.store.clearShadow(actor);
    return { shadow: null };
  }

  /** The shadow becomes the active rule set (404 with none running, 409 when the active rules changed since it started). */
  async promote(actor: string) {
    try {
      return await this.store.promoteShadow(actor);
    } catch (e) {
      if (e instanceof NoShadowError) throw new NotFoundException({ error: 'not_found', message: e.message });
      if (e instanceof StaleShadowError) throw new ConflictException({ error: 'conflict', message: e.message });
      throw trialError(e);
    }
  }
}
