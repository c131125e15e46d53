import type { ReapqClient } from '../client.js';
import type { SseStreams } from './sse.js';

/** What every route module gets: the client, where this host keeps process logs, open streams. */
export interface ApiContext {
  client: ReapqClient;
  dataDir: string;
  streams: SseStreams;
}
