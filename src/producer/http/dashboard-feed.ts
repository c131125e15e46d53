import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { GlobalEvent } from '../../shared/event-store.js';
import { WholeNumber } from '../../shared/input.js';
import type { ApiContext } from './context.js';
import { NOTABLE_TYPES } from './dashboard/notable.js';
import { parse } from './schemas.js';

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
    const events: GlobalEvent[] = [];
    let cursor: string | null = null;
    let end = '+';
    for (let scanned = 0; scanned < SCAN_MAX && events.length < limit;) {
      const batch = await client.admin.globalEventsBefore(end, SCAN_BATCH);
      if (batch.read === 0) break;
      cursor ??= batch.first;
      for (const e of batch.events) {
        if (NOTABLE_TYPES.has(e.event.type)) events.push(e);
        if (events.length >= limit) break;
      }
      scanned += batch.read;
      if (batch.read < SCAN_BATCH) break;
      end = `(${batch.last}`;
    }
    return { cursor: cursor ?? '0', events };
  });
}
