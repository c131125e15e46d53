import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ProcessIdSchema } from '../../shared/record.js';
import { registerDashboardAssets, assetUrl } from './dashboard-assets.js';

/**
 * The dashboard: `/` (the fleet at a glance) and `/processes/:id` (one process). The pages
 * are server-rendered shells that hold no data, so they are served without auth; their
 * browser code (dashboard/*.ts, served as ES modules from /assets/) reads /v1 (with the
 * token, when the api has one, typed into the page once and kept in sessionStorage) and
 * follows the SSE routes live.
 *
 * The only value rendered into HTML on the server is the process id of /processes/:id,
 * validated and escaped; the browser code inserts everything else as text. The CSP allows
 * only scripts from this origin's /assets/ and no inline script at all, so injected markup
 * could not run script even if something were ever rendered unescaped.
 */

/** Escapes a value for HTML text and double- or single-quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `
:root{--fg:#1d1f21;--muted:#6a6f75;--line:#e3e5e8;--head:#f5f6f7;--ok:#1a7f37;--warn:#9a6700;--bad:#c62828;--off:#8a8f96}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:var(--fg)}
header{display:flex;gap:1em;align-items:baseline;padding:.8em 1.5em;border-bottom:1px solid var(--line);background:var(--head)}
header h1{font-size:1.2em;margin:0}header h1 a{color:inherit;text-decoration:none}
main{padding:0 1.5em 2em}
h2{font-size:1.05em;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
thead th{background:var(--head);font-weight:600}
th[scope=row],#record th{width:12em;color:var(--muted);font-weight:normal}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.cmd,td.detail,#record td{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
td.name{max-width:20em;word-break:break-all}
.status{font-size:12px;padding:1px 8px;border-radius:9px;background:#eee;color:var(--muted)}
.status.on{background:#dcf3e2;color:var(--ok)}
#err{color:var(--bad)}
#auth{margin:1em 1.5em;padding:.8em;border:1px solid var(--warn);background:#fff8e6}
.count{display:inline-block;margin:0 .4em .3em 0;padding:2px 9px;border-radius:10px;border:1px solid var(--line)}
.count.zero{opacity:.45}
.st-running,.h-alive{color:var(--ok);font-weight:600}
.st-starting,.st-pending,.st-stopping,.h-draining,.st-exited{color:var(--warn);font-weight:600}
.st-failed,.st-lost,.h-dead,.bad{color:var(--bad);font-weight:600}
.st-stopped{color:var(--off)}
.ev-drift,.ev-lost,.ev-gave_up,.ev-spawn_failed,.ev-start_failed,.ev-not_ready{color:var(--bad);font-weight:600}
.ev-restart_scheduled,.ev-kill_pending{color:var(--warn);font-weight:600}
.ev-spawned,.ev-ready{color:var(--ok)}
.empty{color:var(--muted);font-style:italic}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(28em,1fr));gap:0 2em}
#recent{list-style:none;padding:0;margin:0}#recent li{padding:3px 0;border-bottom:1px solid var(--line)}
#recent time{color:var(--muted);font-size:12px}#recent .detail{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
#logs{background:#16181a;color:#e6e6e6;padding:.8em;max-height:30em;overflow:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
small{color:var(--muted)}
`;

function head(title: string, nonce: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="${nonce}">${CSS}</style></head>`;
}

const HEADER = `<header><h1><a href="/">reapq</a></h1><span id="live" class="status">connecting</span><span id="err" role="alert"></span></header>
<form id="auth" hidden><span id="auth-msg"></span> <label>API token <input id="token" type="password" autocomplete="off" size="32"></label> <button type="submit">Use token</button></form>`;

function indexPage(nonce: string): string {
  return `${head('reapq', nonce)}<body>
${HEADER}
<main>
<h2>Services</h2>
<table><thead><tr><th>service</th><th>revision</th><th>processes</th><th>last deploy</th><th>actions</th></tr></thead><tbody id="services"></tbody></table>
<p id="services-empty" class="empty" hidden>no services: <code>reapq deploy NAME -- CMD</code> makes one</p>
<h2>Hosts</h2>
<table><thead><tr><th>host</th><th>state</th><th>load / capacity</th><th>last seen</th><th>version</th></tr></thead><tbody id="hosts"></tbody></table>
<p id="hosts-empty" class="empty" hidden>no worker has sent a heartbeat</p>
<h2>Processes <small id="shown"></small></h2>
<p id="counts"></p>
<table><thead><tr><th>id</th><th>name</th><th>state</th><th>host</th><th>pid</th><th>port</th><th>restarts</th><th>age</th><th>cpu</th><th>mem</th><th>command</th></tr></thead><tbody id="procs"></tbody></table>
<p id="procs-empty" class="empty" hidden>no processes</p>
<p><button id="older" type="button" hidden>older</button></p>
<div class="cols">
<section id="recent-section"><h2>Recent drift and restarts</h2><ol id="recent"></ol><p id="recent-empty" class="empty" hidden>none</p></section>
<section id="queues-section"><h2>Queues <small>BullMQ</small></h2>
<table><thead><tr><th>queue</th><th>for</th><th>waiting</th><th>active</th><th>delayed</th><th>failed</th></tr></thead><tbody id="queues"></tbody></table></section>
</div>
</main>
<script type="module" src="${assetUrl('producer/http/dashboard/index-page.js')}"></script></body></html>
`;
}

function processPage(nonce: string, id: string): string {
  const eid = escapeHtml(id);
  return `${head(`reapq: ${id}`, nonce)}<body data-id="${eid}">
${HEADER}
<main>
<p><a href="/">&larr; all processes</a></p>
<h2>Process <code>${eid}</code><span id="heading-name"></span>: <span id="heading-state"></span></h2>
<p id="missing" class="empty" hidden>no such process (it may have been pruned)</p>
<table><tbody id="record"></tbody></table>
<h2>Events</h2>
<table><thead><tr><th>version</th><th>at</th><th>event</th><th>details</th></tr></thead><tbody id="events"></tbody></table>
<p id="events-empty" class="empty" hidden>no events</p>
<h2>Log tail <small id="logs-at"></small></h2>
<pre id="logs"></pre>
</main>
<script type="module" src="${assetUrl('producer/http/dashboard/process-page.js')}"></script></body></html>
`;
}

function sendPage(reply: FastifyReply, build: (nonce: string) => string, status = 200): FastifyReply {
  const nonce = randomBytes(16).toString('base64');
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header(
      'content-security-policy',
      `default-src 'none'; script-src 'self'; style-src 'nonce-${nonce}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    )
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .send(build(nonce));
}

export function registerDashboardRoute(app: FastifyInstance): void {
  registerDashboardAssets(app);
  app.get('/', async (_request, reply) => sendPage(reply, indexPage));

  app.get('/processes/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!ProcessIdSchema.safeParse(id).success) {
      return sendPage(
        reply,
        (nonce) =>
          `${head('reapq: not found', nonce)}<body><p>not a process id: ${escapeHtml(id)}</p><p><a href="/">all processes</a></p></body></html>`,
        404,
      );
    }
    return sendPage(reply, (nonce) => processPage(nonce, id));
  });
}
