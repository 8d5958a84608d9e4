import { BadRequestException, Injectable, PipeTransform } from '@nestjs/common';
import type { Static, TSchema } from '@sinclair/typebox';
import Ajv, { ValidateFunction } from 'ajv';
import { addFormatsTo, toFieldErrors } from '@app/contracts';

// Query strings are all text: this validator converts "50" to 50 and fills in defaults.
const ajv = addFormatsTo(new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, allowUnionTypes: true }), ['date-time']);
const compiledQueries = new WeakMap<TSchema, ValidateFunction>();

/** Validates and converts a query string against a schema; 400 with field-level errors otherwise. */
@Injectable()
export class QueryPipe<S extends TSchema> implements PipeTransform<unknown, Static<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown): Static<S> {
    let fn = compiledQueries.get(this.schema);
    if (!fn) {
      fn = ajv.compile(this.schema);
      compiledQueries.set(this.schema, fn);
    }
    const copy = { ...(value as object) };
    if (fn(copy)) return copy as Static<S>;
    const errors = toFieldErrors(fn.errors ?? []);
    throw new BadRequestException({
      error: 'validation_failed',
      message: errors.map((e) => `${e.field || 'query'} ${e.message}`).join('; '),
      errors,
    });
  }
}
