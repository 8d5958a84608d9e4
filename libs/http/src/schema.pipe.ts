import { BadRequestException, Injectable, PipeTransform } from '@nestjs/common';
import type { Static, TSchema } from '@sinclair/typebox';
import { compiled } from '@app/contracts';

/** Validates a request body against a contract schema; 400 with field-level errors otherwise. */
@Injectable()
export class SchemaPipe<S extends TSchema> implements PipeTransform<unknown, Static<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown): Static<S> {
    const checked = compiled(this.schema).check(value);
    if (checked.ok) return checked.value;
    throw new BadRequestException({
      error: 'validation_failed',
      message: checked.errors.map((e) => `${e.field || 'body'} ${e.message}`).join('; '),
      errors: checked.errors,
    });
  }
}
