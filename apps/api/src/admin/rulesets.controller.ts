import { BadRequestException, Body, Controller, Delete, Get, Param, ParseIntPipe, Put, Query, UseGuards } from '@nestjs/common';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { CatalogKey, compiled } from '@app/contracts';
import { RuleSetConfig, RuleSetError, RuleSetResolver } from '@app/rules';
import { RuleSetScope, RuleSetStore } from '@app/settings';
import { Principal } from '@app/storage';

/**
 * Rule sets, layered network → advertiser → offer. Every change is validated, versioned and
 * live on every running scorer within a second, without a restart.
 */
@Controller('v1/admin/rulesets')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class RuleSetsController {
  constructor(private readonly store: RuleSetStore) {}

  @Get()
  current(): Promise<RuleSetConfig> {
    return this.store.current();
  }

  @Get('history')
  async history(@Query('limit', new ParseIntPipe({ optional: true })) limit?: number) {
    const versions = await this.store.history(Math.min(Math.max(limit ?? 50, 1), 500));
    return versions.map(({ version, scope, changedBy, createdAt }) => ({ version, scope, changedBy, createdAt }));
  }

  /** The rules, thresholds and list sizes that apply to one advertiser / offer. */
  @Get('effective')
  async effective(@Query('advertiserId') advertiserId?: string, @Query('offerId') offerId?: string) {
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
      },
    };
  }

  @Put('network')
  network(@Body() layer: unknown, @CurrentPrincipal() who: Principal) {
    return this.change({ kind: 'network' }, layer, who);
  }

  @Put('advertisers/:id')
  advertiser(@Param('id') id: string, @Body() layer: unknown, @CurrentPrincipal() who: Principal) {
    return this.change({ kind: 'advertiser', id: key(id) }, layer, who);
  }

  @Put('offers/:id')
  offer(@Param('id') id: string, @Body() layer: unknown, @CurrentPrincipal() who: Principal) {
    return this.change({ kind: 'offer', id: key(id) }, layer, who);
  }

  @Delete('advertisers/:id')
  removeAdvertiser(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    return this.change({ kind: 'advertiser', id: key(id) }, null, who);
  }

  @Delete('offers/:id')
  removeOffer(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    return this.change({ kind: 'offer', id: key(id) }, null, who);
  }

  private async change(scope: RuleSetScope, layer: unknown, who: Principal): Promise<RuleSetConfig> {
    try {
      return await this.store.change(scope, layer, who.keyId);
    } catch (e) {
      if (e instanceof RuleSetError) {
        throw new BadRequestException({ error: 'validation_failed', message: e.message, errors: e.errors });
      }
      throw e;
    }
  }
}

function key(id: string): string {
  if (!compiled(CatalogKey).check(id).ok) {
    throw new BadRequestException({
      error: 'validation_failed',
      message: 'id must be 1–64 letters, digits, _ or -',
      errors: [{ field: 'id', message: 'is not a catalog id' }],
    });
  }
  return id;
}
