import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { decodeEvent } from '../../shared/events.js';
import type { GlobalEvent } from '../../shared/event-store.js';
import { WholeNumber } from '../../shared/input.js';
import type { ApiContext } from './context.js';
import { NOTABLE_TYPES } from './dashboard/notable.js';
import { parse } from './schemas.js';

export { NOTABLE_TYPES };

const SCAN_BATCH = 500;
/** How far back (in global stream entries) a request looks for notable events. */
const SCAN_MAX = 5000;

const RecentQuery = z.object({
  limit: WholeNumber(1, 200).optional(),
});

export interface RecentFeed {
  /**
   * The newest entry of the fleet stream when this was read ('0' when it is empty): open
   * `/v1/events?after=<cursor>` to follow on without a gap.
   */
  cursor: string;
  /** Notable events (drift, restart_scheduled, gave_up, lost), newest first. */
  events: GlobalEvent[];
}

/**
 * GET /v1/dashboard/recent: what the dashboard shows before its live feed starts. The
 * fleet stream is read newest first, at most SCAN_MAX entries back.
 */
export function registerDashboardFeedRoute(app: FastifyInstance, { client }: ApiContext): void {
  app.get('/dashboard/recent', async (request): Promise<RecentFeed> => {
    const { limit = 50 } = parse(RecentQuery, request.query, 'query');
    const key = client.keys.globalStream;
    const events: GlobalEvent[] = [];
    let cursor = '0';
    let end = '+';
    for (let scanned = 0; scanned < SCAN_MAX && events.length < limit;) {
      const rows = await client.connection.xrevrange(key, end, '-', 'COUNT', SCAN_BATCH);
      if (rows.length === 0) break;
      if (cursor === '0') cursor = rows[0]![0];
      for (const [streamId, fields] of rows) {
        const e = decode(streamId, fields);
        if (e && NOTABLE_TYPES.has(e.event.type)) events.push(e);
        if (events.length >= limit) break;
      }
      scanned += rows.length;
      if (rows.length < SCAN_BATCH) break;
      end = `(${rows[rows.length - 1]![0]}`;
    }
    return { cursor, events };
  });
}

function decode(streamId: string, fields: string[]): GlobalEvent | null {
  const m: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) m[fields[i]!] = fields[i + 1]!;
  try {
    return { streamId, processId: m.id ?? '', version: Number(m.v), event: decodeEvent(m.e ?? '') };
  } catch {
    return null; // a newer or broken entry: the dashboard skips it rather than failing
  }
}
