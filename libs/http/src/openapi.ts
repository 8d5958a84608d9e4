import { applyDecorators } from '@nestjs/common';
import { ApiQuery, ApiResponse } from '@nestjs/swagger';
import type { TObject, TSchema } from '@sinclair/typebox';

/**
 * Documents every query parameter of a schema, from the schema the route validates with, so the
 * OpenAPI document cannot drift from what the route accepts.
 */
export function ApiQueryFrom(schema: TObject): MethodDecorator {
  const required = new Set(schema.required ?? []);
  return applyDecorators(
    ...Object.entries(schema.properties).map(([name, property]: [string, TSchema]) =>
      ApiQuery({
        name,
        required: required.has(name) && property.default === undefined,
        description: property.description,
        schema: plain(property),
      }),
    ),
  );
}

/** A TypeBox schema as plain JSON Schema (TypeBox marks its schemas with symbol keys). */
export function plain(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}

/**
 * The 200 answer of a list that is also CSV: the JSON example, and with `Accept: text/csv` every row
 * matching the filters streamed as CSV (the CSV example shows its header and a row); `csvRows` says
 * which rows when it is not every match (a list bounded by its `limit`).
 */
export function ApiListResponse(
  jsonExample: unknown,
  csvExample: string,
  csvRows = 'every row matching the filters (not one page: `limit` does not apply, a `cursor` starts after it)',
): MethodDecorator {
  return ApiResponse({
    status: 200,
    description: `JSON by default. With \`Accept: text/csv\`: ${csvRows}, streamed as CSV with a header line; cells a spreadsheet would read as a formula are prefixed with \`'\`.`,
    content: {
      'application/json': { schema: { example: jsonExample } },
      'text/csv': { schema: { type: 'string' }, example: csvExample },
    },
  });
}

/** What every operation that takes input may answer besides its own errors (see `documentInputErrors`). */
export const INVALID_INPUT_DESCRIPTION =
  'Invalid input: `errors` names each field and what is wrong. Any parameter, query field or body field (value or key) holding text PostgreSQL cannot store — a NUL (U+0000) or an unpaired surrogate (`\\ud800` alone) — is refused this way on every endpoint (in an array sent to `/v1/clicks` or `/v1/conversions`, only the event holding it: 207); nothing is stored.';
const INVALID_INPUT_EXAMPLE = {
  error: 'validation_failed',
  message: 'name must not contain the NUL character (U+0000)',
  errors: [{ field: 'name', message: 'must not contain the NUL character (U+0000)' }],
};

interface DocumentedOperation {
  parameters?: unknown[];
  requestBody?: unknown;
  responses?: Record<string, { description?: string; content?: Record<string, unknown> }>;
}

/**
 * Gives every operation with parameters or a body its 400 (`INVALID_INPUT_DESCRIPTION`, with an
 * example of the error shape): the edge refuses unstorable text on every route (`refuseUnstorableText`)
 * and the pipes refuse what the schemas do, whether or not a controller remembered to say so. An
 * operation's own 400 keeps its description, followed by the common one.
 */
export function documentInputErrors(paths: Record<string, Record<string, unknown>>): void {
  for (const item of Object.values(paths)) {
    for (const [method, value] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const op = value as DocumentedOperation;
      if (!op.parameters?.length && !op.requestBody) continue;
      op.responses ??= {};
      const own = op.responses['400'];
      op.responses['400'] = {
        ...own,
        description: own?.description ? `${own.description.replace(/\.$/, '')}. ${INVALID_INPUT_DESCRIPTION}` : INVALID_INPUT_DESCRIPTION,
        content: own?.content ?? { 'application/json': { schema: { example: INVALID_INPUT_EXAMPLE } } },
      };
    }
  }
}
