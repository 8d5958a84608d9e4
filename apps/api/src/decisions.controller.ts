import { Controller, Get, NotFoundException, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { DECISION_EXAMPLE } from './examples';
import { publisherDecision } from './publisher/publisher-view';
import { OutcomeRepository, Principal } from '@app/storage';

/** The decision on one conversion, for the admin, its advertiser or its publisher. */
@ApiTags('advertiser')
@ApiBearerAuth()
@Controller('v1/conversions')
@UseGuards(ApiKeyGuard)
export class DecisionsController {
  constructor(private readonly outcomes: OutcomeRepository) {}

  @Get(':id/decision')
  @Roles('admin', 'advertiser', 'publisher')
  @ApiOperation({
    summary: 'The current decision on one conversion',
    description:
      'The id is the one the conversion was answered with; an advertiser may also use the id it sent itself with its key or token' +
      ' (not one its open pixel sent: anybody may fire into an open offer).' +
      ' Advertisers and publishers see only their own conversions (others read as 404). A publisher sees the outcome, the reasons' +
      ' (visitors’ addresses masked, monitor-only reasons left out) and its payout; not the advertiser’s amount, notes, actors or model scores.',
  })
  @ApiResponse({ status: 200, schema: { example: DECISION_EXAMPLE } })
  @ApiResponse({ status: 404, description: 'Not decided yet, or not yours' })
  async decision(@Param('id') id: string, @CurrentPrincipal() principal: Principal) {
    // An advertiser may name a conversion by the id it chose too: the stored one is derived from it.
    const decision =
      principal.role === 'advertiser'
        ? await this.outcomes.findAdvertiserDecision(id, principal.subjectId!)
        : await this.outcomes.findDecision(id, principal.role === 'publisher' ? { publisherId: principal.subjectId ?? '' } : {});
    // Someone else's conversion reads exactly like a missing one.
    if (!decision) throw new NotFoundException({ error: 'not_found', message: `no decision for conversion "${id}" yet` });
    return principal.role === 'publisher' ? publisherDecision(decision) : decision;
  }
}
