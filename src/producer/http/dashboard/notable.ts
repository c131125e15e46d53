import type { EventType } from '../../../shared/events.js';

/** The events the dashboard lists as "recent drift and restarts", on the server's feed and live in the page. */
export const NOTABLE_TYPES: ReadonlySet<EventType> = new Set<EventType>(['drift', 'restart_scheduled', 'gave_up', 'lost', 'start_failed']);
