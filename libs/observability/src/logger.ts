import { LoggerService } from '@nestjs/common';
import pino, { Logger } from 'pino';

export type { Logger } from 'pino';

let root: Logger | undefined;

/**
 * The process's structured logger: every service of an all-in-one process writes through one
 * pino instance. Passing a level sets it (loggers are made per component instance, after boot
 * configured the level). Never log whole payloads: they carry end-user IPs.
 */
export function rootLogger(level?: string): Logger {
  if (root && level) root.level = level;
  root ??= pino({
    level: level ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['ip', '*.ip', 'authorization', '*.authorization'], censor: '[redacted]' },
  });
  return root;
}

/** A child logger for one component (`service`, `consumer`, …). */
export function componentLogger(component: string, fields: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...fields });
}

/** Routes Nest's own log lines (bootstrap, routes, errors) into pino. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger = rootLogger()) {}

  /** Nest's own chatter (modules loaded, routes mapped) is debug-level for an operator. */
  log(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    if (message instanceof Error) this.logger.error({ context, err: message }, message.message);
    else this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
}
