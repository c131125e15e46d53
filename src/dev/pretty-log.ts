import pretty from 'pino-pretty';
import { makeLogger, type Logger } from '../shared/logger.js';

/**
 * `reapq dev` is read by a person at a terminal: coloured one-line logs there (pino-pretty,
 * in-process and synchronous, so nothing is lost on exit), the usual JSON lines otherwise.
 */
export function devLogger(level: string, isTTY = process.stderr.isTTY === true): Logger {
  if (!isTTY) return makeLogger(level);
  return makeLogger(level, {}, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,host', translateTime: 'SYS:HH:MM:ss.l' }));
}
