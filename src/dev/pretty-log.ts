import { pino } from 'pino';
import pretty from 'pino-pretty';
import { makeLogger, type Logger } from '../shared/logger.js';

/** On every line already (level, time), or the same on every entry of a dev (its pid, host, host id). */
const NOT_SHOWN = new Set(['level', 'time', 'pid', 'host', 'hostId']);

/**
 * `reapq dev` is read by a person at a terminal: coloured logs there (pino-pretty,
 * in-process and synchronous, so nothing is lost on exit), the usual JSON lines otherwise.
 * One entry is one line, its fields inline as JSON (pino-pretty's default gives each field
 * a line of its own: 79 lines for one start and stop); an error's stack stays in it, escaped.
 */
export function devLogger(level: string, isTTY = process.stderr.isTTY === true, destination: pino.DestinationStream = terminal()): Logger {
  if (!isTTY) return makeLogger(level, {}, destination);
  return makeLogger(
    level,
    {},
    pretty({
      destination,
      colorize: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid',
      // pino-pretty's singleLine still gives `err` (always error-like to it) lines of its own.
      hideObject: true,
      messageFormat: (entry, messageKey, _level, { colors }) => {
        const fields = Object.fromEntries(Object.entries(entry).filter(([k]) => k !== messageKey && !NOT_SHOWN.has(k)));
        const message = String(entry[messageKey] ?? '').replace(/\r?\n/g, '\\n');
        return Object.keys(fields).length > 0 ? `${message} ${colors.gray(JSON.stringify(fields))}` : message;
      },
    }),
  );
}

/**
 * stderr, written synchronously. A terminal closed under the dev (EIO) or a pager that quit
 * (EPIPE) must not end the shutdown the dev is in: the entry has nowhere to go, that is all.
 */
function terminal(): pino.DestinationStream {
  const out = pino.destination({ fd: 2, sync: true });
  out.on('error', () => undefined);
  return out;
}
