// A .cpuprofile (node --cpu-prof) as a flame graph SVG and a table of where the time went.
//
//   node bench/flame.mjs PROFILE.cpuprofile OUT.svg "title" [--top 15]
//
// The SVG is a plain icicle chart (root at the top, a frame's width its share of the
// samples, frames under 1% dropped so the file stays small); hovering a frame shows its
// function, file and share. The table (stdout, markdown) has the functions with the most
// self time and the files, by package, with the most total time.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

const [file, out, title = basename(file ?? '')] = process.argv.slice(2);
const topIdx = process.argv.indexOf('--top');
const TOP = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 15;
if (!file || !out) {
  console.error('usage: node bench/flame.mjs PROFILE.cpuprofile OUT.svg [title] [--top N]');
  process.exit(2);
}
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, { ...n, self: 0, total: 0, kids: [] }]));
for (const n of byId.values()) for (const c of n.children ?? []) byId.get(c).parent = n;
// Sample counts per node (each sample is one timeDelta of the profile).
for (const id of prof.samples) byId.get(id).self++;
const root = byId.get(prof.nodes[0].id);
const totalOf = (n) => (n.total = n.self + (n.children ?? []).reduce((s, c) => s + totalOf(byId.get(c)), 0));
totalOf(root);
const all = root.total || 1;
const ms = (prof.endTime - prof.startTime) / 1000;
const idle = [...byId.values()].filter((n) => n.callFrame.functionName === '(idle)').reduce((s, n) => s + n.self, 0);

const where = (cf) => {
  const url = cf.url.replace(/^file:\/\//, '');
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:') || url === '') return url || '(native)';
  const i = url.search(/\/(dist|src|bench)\//);
  return i >= 0 ? url.slice(i + 1) : basename(url);
};
const name = (cf) => `${cf.functionName || '(anonymous)'} ${where(cf)}${cf.lineNumber >= 0 ? `:${cf.lineNumber + 1}` : ''}`;

// Self time by function, total time by package or file (counted once per stack).
const self = new Map();
for (const n of byId.values()) self.set(name(n.callFrame), (self.get(name(n.callFrame)) ?? 0) + n.self);
const busy = all - idle;
const pct = (x, of = busy) => `${((100 * x) / of).toFixed(1)}%`;
const rows = [...self.entries()]
  .filter(([k]) => !k.startsWith('(idle)'))
  .sort((a, b) => b[1] - a[1])
  .slice(0, TOP);
const inside = new Map();
const walk = (n, seen) => {
  const w = where(n.callFrame);
  const fresh = !seen.has(w);
  if (fresh && n.callFrame.functionName !== '(idle)') inside.set(w, (inside.get(w) ?? 0) + n.total);
  if (fresh) seen.add(w);
  for (const c of n.children ?? []) walk(byId.get(c), seen);
  if (fresh) seen.delete(w);
};
walk(root, new Set());
const places = [...inside.entries()]
  .filter(([k]) => k !== '(root)' && k !== '(native)')
  .sort((a, b) => b[1] - a[1])
  .slice(0, TOP);
console.log(`${title}: ${ms.toFixed(0)} ms profiled, ${pct(busy, all)} of it busy (${prof.samples.length} samples)\n`);
console.log('| function (self time) | share of busy |\n|---|---:|');
for (const [k, v] of rows) console.log(`| \`${k}\` | ${pct(v)} |`);
console.log('\n| package or file (time inside, callees included) | share of busy |\n|---|---:|');
for (const [k, v] of places) console.log(`| \`${k}\` | ${pct(v)} |`);

// The icicle: (idle) left out, so widths are shares of busy time.
const W = 1200;
const H = 16;
const rects = [];
let depthMax = 0;
const draw = (n, x, depth) => {
  const kids = (n.children ?? []).map((c) => byId.get(c)).filter((c) => c.callFrame.functionName !== '(idle)');
  const w = (n === root ? busy : n.total) / busy;
  if (w < 0.01) return;
  depthMax = Math.max(depthMax, depth);
  rects.push({ x, w, depth, label: n === root ? `all (${ms.toFixed(0)} ms, ${pct(busy, all)} busy)` : name(n.callFrame), share: w });
  let cx = x;
  for (const c of kids.sort((a, b) => b.total - a.total)) {
    draw(c, cx, depth + 1);
    cx += c.total / busy;
  }
};
draw(root, 0, 0);
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const hue = (s) => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
const height = (depthMax + 1) * H + 30;
const svg = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="monospace" font-size="11">`,
  `<text x="4" y="14" font-size="13">${esc(title)}</text>`,
  ...rects.map((r) => {
    const x = (r.x * W).toFixed(1);
    const w = Math.max(0.5, r.w * W).toFixed(1);
    const y = 20 + r.depth * H;
    const chars = Math.floor((r.w * W - 4) / 6.6);
    const text = chars >= 4 ? `<text x="${(r.x * W + 2).toFixed(1)}" y="${y + 11}">${esc(r.label.slice(0, chars))}</text>` : '';
    return `<g><title>${esc(r.label)} ${(100 * r.share).toFixed(1)}%</title><rect x="${x}" y="${y}" width="${w}" height="${H - 1}" fill="hsl(${hue(r.label.split(' ')[1] ?? r.label)},55%,72%)"/>${text}</g>`;
  }),
  '</svg>',
].join('\n');
writeFileSync(out, `${svg}\n`);
console.log(`\nwrote ${out} (${rects.length} frames, ${(svg.length / 1024).toFixed(0)} KiB)`);
