import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * PostgreSQL text cannot hold U+0000: a NUL anywhere in a request would either fail the query
 * that uses it (a 500) or, in an event the gateway accepted, fail the recorder's insert again and
 * again until the event is dead-lettered, accepted but never stored. So every service refuses it at
 * the edge, in path parameters, the query string and JSON bodies alike, field by field.
 */
export function refuseNulCharacters(fastify: FastifyInstance): void {
  fastify.addHook('preValidation', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    // The common case (no NUL anywhere) walks the values without building a single field path:
    // the gateway sees batches of a thousand events.
    if (!hasNul(request.params) && !hasNul(request.query) && !hasNul(request.body)) return done();
    const errors = [...nulFields(request.params, ''), ...nulFields(request.query, ''), ...nulFields(request.body, '')];
    void reply.code(400).send({
      error: 'validation_failed',
      message: errors.map((e) => `${e.field || 'body'} ${e.message}`).join('; '),
      errors,
    });
  });
}

const MESSAGE = 'must not contain the NUL character (U+0000)';

/** Whether `value` holds a NUL in any string or key (iterative, like `nulFields`). */
export function hasNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return true;
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push(v[i]);
    } else if (v && typeof v === 'object') {
      for (const key in v) {
        if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
        if (key.includes('\u0000')) return true;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

/**
 * Where `value` holds a NUL in a string or a key, as field paths like the validators' (`[0].offerId`).
 * Iterative: a body may nest thousands of levels deep (the parser allows it; recursion would not).
 */
export function nulFields(value: unknown, root: string): { field: string; message: string }[] {
  const found: { field: string; message: string }[] = [];
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length && found.length < 20) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) found.push({ field: path, message: MESSAGE });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
    } else if (v && typeof v === 'object') {
      for (const key of Object.keys(v).reverse()) {
        const field = path ? `${path}.${key}` : key;
        if (key.includes('\u0000')) found.push({ field, message: MESSAGE });
        else stack.push([(v as Record<string, unknown>)[key], field]);
      }
    }
  }
  return found;
}
