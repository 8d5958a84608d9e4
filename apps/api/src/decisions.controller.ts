import { Controller, Get, NotFoundException, Param, UseGuards } from '@nestjs/common';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { OutcomeRepository, Principal } from '@app/storage';

/** The decision on one conversion, for the admin, its advertiser or its publisher. */
@Controller('v1/conversions')
@UseGuards(ApiKeyGuard)
export class DecisionsController {
  constructor(private readonly outcomes: OutcomeRepository) {}

  @Get(':id/decision')
  @Roles('admin', 'advertiser', 'publisher')
  async decision(@Param('id') id: string, @CurrentPrincipal() principal: Principal) {
    const scope =
      principal.role === 'advertiser'
        ? { advertiserId: principal.subjectId ?? '' }
        : principal.role === 'publisher'
          ? { publisherId: principal.subjectId ?? '' }
          : {};
    const decision = await this.outcomes.findDecision(id, scope);
    // Someone else's conversion reads exactly like a missing one.
    if (!decision) throw new NotFoundException({ error: 'not_found', message: `no decision for conversion "${id}" yet` });
    return decision;
  }
}
