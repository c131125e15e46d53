import type { FastifyInstance } from 'fastify';

/**
 * One static page: processes grouped by state, and hosts, refreshed every 2 s from /v1.
 * It holds no data itself, so it is served without auth; the token (when the api has one)
 * is typed into the page, kept in sessionStorage and sent as a bearer header.
 * Every value is inserted with textContent, never as HTML.
 */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>reapq</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f4f4f4}code{font-size:12px}
#err{color:#b00}.running{color:#070}.failed,.lost{color:#b00}.stopping,.starting,.pending{color:#a60}
</style></head><body>
<h1>reapq</h1>
<p><label>Token <input id="token" type="password" size="30"></label> <span id="err"></span> <small id="at"></small></p>
<h2>Processes</h2><p id="counts"></p>
<table><thead><tr><th>state</th><th>id</th><th>name</th><th>host</th><th>pid</th><th>port</th><th>restarts</th><th>command</th><th>updated</th></tr></thead><tbody id="procs"></tbody></table>
<h2>Hosts</h2>
<table><thead><tr><th>host</th><th>alive</th><th>state</th><th>load</th><th>capacity</th><th>last seen</th><th>version</th></tr></thead><tbody id="hosts"></tbody></table>
<script>
const $ = (id) => document.getElementById(id);
const tokenInput = $('token');
tokenInput.value = sessionStorage.getItem('reapqToken') || '';
tokenInput.onchange = () => { sessionStorage.setItem('reapqToken', tokenInput.value); refresh(); };
const order = ['running','starting','pending','stopping','exited','failed','lost','stopped'];
function row(cells, cls) {
  const tr = document.createElement('tr');
  for (const c of cells) { const td = document.createElement('td'); td.textContent = c == null ? '-' : String(c); tr.appendChild(td); }
  if (cls) tr.firstChild.className = cls;
  return tr;
}
async function get(path) {
  const headers = tokenInput.value ? { authorization: 'Bearer ' + tokenInput.value } : {};
  const res = await fetch(path, { headers });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}
async function refresh() {
  try {
    const [procs, hosts] = await Promise.all([get('/v1/processes'), get('/v1/hosts')]);
    procs.sort((a, b) => order.indexOf(a.state) - order.indexOf(b.state) || b.updatedAt.localeCompare(a.updatedAt));
    const counts = {};
    for (const p of procs) counts[p.state] = (counts[p.state] || 0) + 1;
    $('counts').textContent = order.filter((s) => counts[s]).map((s) => s + ': ' + counts[s]).join('  ') || 'none';
    $('procs').replaceChildren(...procs.map((p) => row([p.state, p.id, p.name, p.host, p.pid, p.port, p.restarts, p.command.join(' '), p.updatedAt], p.state)));
    $('hosts').replaceChildren(...hosts.map((h) => row([h.hostId, h.alive ? 'yes' : 'no', h.state, h.load, h.capacity, Math.round((Date.now() - h.at) / 1000) + 's ago', h.version], h.alive ? 'running' : 'lost')));
    $('err').textContent = '';
  } catch (e) {
    $('err').textContent = e.message;
  }
  $('at').textContent = 'updated ' + new Date().toLocaleTimeString();
}
refresh();
setInterval(refresh, 2000);
</script></body></html>
`;

export function registerDashboardRoute(app: FastifyInstance): void {
  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
      .header('x-content-type-options', 'nosniff')
      .send(PAGE),
  );
}
