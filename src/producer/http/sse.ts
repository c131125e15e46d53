import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { oneLine } from './errors.js';
import { EventVersion, parse } from './schemas.js';

const PING_MS = 15_000;

/** One open server-sent-events response. `signal` aborts when the client goes or the server closes. */
export interface SseStream {
  readonly signal: AbortSignal;
  /** Writes one event; `id` becomes the client's Last-Event-ID. Waits while the socket is full. */
  send(id: string | number | null, data: unknown, event?: string): Promise<void>;
}

/**
 * Open streams: on close the server aborts each and waits for its producer to return, so
 * nothing still reads Redis after the server (and then the client) is closed.
 */
export class SseStreams {
  private readonly open = new Map<AbortController, Promise<void>>();

  add(ac: AbortController, done: Promise<void>): void {
    this.open.set(ac, done);
    void done.finally(() => this.open.delete(ac));
  }

  async closeAll(): Promise<void> {
    const pending = [...this.open];
    for (const [ac] of pending) ac.abort();
    await Promise.all(pending.map(([, done]) => done));
  }

  get size(): number {
    return this.open.size;
  }
}

export function wantsSse(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.includes('text/event-stream');
}

/** The Last-Event-ID header, if the client sent one (EventSource does when it reconnects). */
export function lastEventId(request: FastifyRequest): string | undefined {
  const v = request.headers['last-event-id'];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Takes the response over from fastify, turns it into an event stream and runs `produce`
 * until it returns or the signal aborts (client gone, server closing). A failure after the
 * headers went out is sent as an `error` event; the stream then ends.
 */
export async function serveSse(
  request: FastifyRequest,
  reply: FastifyReply,
  streams: SseStreams,
  produce: (sse: SseStream) => Promise<void>,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  const ac = new AbortController();
  const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
  const onClose = () => ac.abort();
  res.on('close', onClose);
  const sse: SseStream = {
    signal: ac.signal,
    async send(id, data, event) {
      if (ac.signal.aborted) return;
      const lines = [id !== null ? `id: ${id}` : '', event ? `event: ${event}` : '', `data: ${JSON.stringify(data)}`].filter(Boolean);
      if (!res.write(`${lines.join('\n')}\n\n`)) await once(res, 'drain', { signal: ac.signal }).catch(() => undefined);
    },
  };
  const run = (async () => {
    try {
      await produce(sse);
    } catch (err) {
      if (!ac.signal.aborted) {
        request.log.error({ err, url: request.url }, 'event stream failed');
        await sse.send(null, { error: oneLine(err) }, 'error');
      }
    } finally {
      clearInterval(ping);
      res.off('close', onClose);
      if (!res.writableEnded) res.end();
    }
  })();
  streams.add(ac, run);
  await run;
}

/**
 * Streams a versioned event history (a process's, a deploy's) from the request's
 * Last-Event-ID, else from `after`, until the client goes: one place for the resume rule
 * and for ending the follow (and its reader subscription) with the stream.
 */
export async function serveVersioned<E extends { version: number }>(
  request: FastifyRequest,
  reply: FastifyReply,
  streams: SseStreams,
  after: number,
  follow: (after: number, signal: AbortSignal) => AsyncGenerator<E>,
): Promise<void> {
  const last = lastEventId(request);
  const from = last !== undefined ? parse(EventVersion, last, 'Last-Event-ID') : after;
  await serveSse(request, reply, streams, async (sse) => {
    const events = follow(from, sse.signal);
    try {
      for await (const e of events) {
        if (sse.signal.aborted) break;
        await sse.send(e.version, e);
      }
    } finally {
      await events.return(undefined);
    }
  });
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
