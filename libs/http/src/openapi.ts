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
