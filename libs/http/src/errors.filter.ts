import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Observable, throwError } from 'rxjs';
import { componentLogger } from '@app/observability';

/**
 * The edge's error mapping, for both kinds of handler:
 * - HTTP: one error shape for every answer, `{ error, message, errors? }`. Fastify's own errors
 *   (malformed JSON, body too large, wrong content type) are translated; anything unexpected is
 *   logged and answered with a 500 that leaks nothing.
 * - JetStream (rpc): the original error is handed back to the transport, which decides between
 *   nak-and-retry and the dead-letter subject. (Nest's default would replace it with a generic
 *   "Internal server error" and hide whether it is transient.)
 */
@Catch()
export class EdgeErrorsFilter implements ExceptionFilter {
  private readonly log = componentLogger('http');

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    if (host.getType() === 'rpc') return throwError(() => exception);
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (exception instanceof HttpException) {
      const response = exception.getResponse();
      const body =
        typeof response === 'object' && response !== null && 'error' in response && 'message' in response
          ? response
          : { error: code(exception.getStatus()), message: exception.message };
      // A 503 is always worth sending again: say when (clients and the fault suite's senders retry on it).
      if (exception.getStatus() === 503 && !reply.getHeader('retry-after')) reply.header('Retry-After', '5');
      return void reply.code(exception.getStatus()).send(body);
    }
    const e = exception as { statusCode?: number; code?: string; message?: string };
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      const error =
        e.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? 'payload_too_large'
          : e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? 'unsupported_media_type'
            : 'bad_request';
      return void reply.code(e.statusCode).send({ error, message: e.message ?? 'bad request' });
    }
    this.log.error({ err: exception }, 'unhandled error');
    reply.code(500).send({ error: 'internal', message: 'something went wrong on our side; the request can be retried' });
  }
}

function code(status: number): string {
  return (
    (
      {
        400: 'bad_request',
        401: 'unauthorized',
        403: 'forbidden',
        404: 'not_found',
        409: 'conflict',
        413: 'payload_too_large',
        429: 'rate_limited',
        503: 'unavailable',
      } as Record<number, string>
    )[status] ?? 'error'
  );
}
