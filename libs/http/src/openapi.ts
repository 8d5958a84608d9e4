import { applyDecorators } from '@nestjs/common';
import { ApiQuery } from '@nestjs/swagger';
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
