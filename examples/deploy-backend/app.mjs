// The app the backend deploys: answers its VERSION on PORT, and /health once it is up.
// BROKEN=1 makes a version that never listens, so it never gets ready.
// On SIGTERM it keeps serving for DRAIN_MS (the proxy has already moved on), then closes.
import { createServer } from 'node:http';

const version = process.env.VERSION ?? 'dev';
if (process.env.BROKEN === '1') {
  console.log(`${version}: broken on purpose, never listening`);
  setInterval(() => {}, 60_000);
} else {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    // Which replica and which run of it answered (reapq sets REAPQ_PROCESS_ID).
    res.setHeader('x-served-by', `${process.env.REAPQ_PROCESS_ID ?? '-'} ${process.pid}`);
    res.end(req.url === '/health' ? 'ok\n' : `${version}\n`);
  });
  server.listen(Number(process.env.PORT), () => console.log(`${version} listening on ${process.env.PORT}`));
  process.once('SIGTERM', () => {
    setTimeout(
      () => {
        server.close(() => process.exit(0));
        server.closeIdleConnections();
      },
      Number(process.env.DRAIN_MS ?? 500),
    );
  });
}
