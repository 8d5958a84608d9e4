import { Injectable, NotFoundException } from '@nestjs/common';
import { allPages } from '@app/http';
import { RuleSetConfig, RuleSetResolver } from '@app/rules';
import { RuleSetScope, RuleSetStore } from '@app/live-config';
import { RuleQualityRepository } from '@app/storage';
import { range } from '../api-schemas';
import { trialError } from './candidates';

/** Versions read per query while the whole history is streamed. */
const HISTORY_PAGE = 200;

/**
 * Rule sets, layered network → advertiser → offer: the configuration in force, its versions, what
 * applies to one advertiser or offer, how well each reason code does, and validated, versioned changes.
 */
@Injectable()
export class RuleSetsService {
  constructor(
    private readonly store: RuleSetStore,
    private readonly quality: RuleQualityRepository,
  ) {}

  current(): Promise<RuleSetConfig> {
    return this.store.current();
  }

  /** One page of versions, newest first, older than `before` when given. */
  history(limit: number, before?: number) {
    return this.store.history(limit, before);
  }

  /** Every version older than `before` (all of them without it), read a page at a time. */
  allHistory(before?: number) {
    return allPages(async (older: number | undefined) => {
      const items = await this.store.history(HISTORY_PAGE, older);
      return { items, next: items.length === HISTORY_PAGE ? items[items.length - 1].version : null };
    }, before);
  }

  /** One version as the path gave it (404 for an unknown or malformed one). */
  async version(version: string) {
    const found = /^[1-9][0-9]{0,8}$/.test(version) ? await this.store.version(Number(version)) : null;
    if (!found) throw new NotFoundException({ error: 'not_found', message: `no rule-set version ${version}` });
    return found;
  }

  /** Precision and recall of each reason code over the range (default the last 7 days) and per bucket. */
  async ruleQuality(q: { from?: string; to?: string; interval?: 'hour' | 'day' }) {
    const r = range(q);
    return { from: r.from.toISOString(), to: r.to.toISOString(), ...(await this.quality.quality(r, q.interval ?? 'day')) };
  }

  /** The rules, thresholds and list sizes that apply to one advertiser and / or offer, layers merged. */
  async effective(advertiserId?: string, offerId?: string) {
    const rs = new RuleSetResolver(await this.store.current()).for(advertiserId, offerId);
    const l = rs.lists;
    return {
      version: rs.version,
      policy: rs.policy,
      rules: rs.rules,
      lists: {
        denyIps: l.denyIps.size,
        allowIps: l.allowIps.size,
        datacenterRanges: l.datacenter.size,
        denyDevices: l.denyDevices.size,
        denyPublishers: l.denyPublishers.size,
        denySubIds: l.denySubIds.size,
        enforcementBlocks: l.blocks.size,
      },
    };
  }

  /** Replaces (or, with null, removes) one layer: a new version, live on every scorer; 400 for an invalid layer, nothing changed. */
  async change(scope: RuleSetScope, layer: unknown, actor: string): Promise<RuleSetConfig> {
    try {
      return await this.store.change(scope, layer, actor);
    } catch (e) {
      throw trialError(e);
    }
  }
}
