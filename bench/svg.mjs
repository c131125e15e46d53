// A tiny hand-written SVG bar chart: groups of horizontal bars (median) with a min-max
// whisker, reapq in blue beside its baselines in grey, and the goal as a dashed red line.

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function num(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/**
 * groups: [{ title, unit, goal?: { value, text }, bars: [{ label, median, min, max, baseline }] }]
 * Each group has its own scale (figures of one bench differ in unit and size).
 */
export function barChart({ title, subtitle = [], groups, baselineLegend = 'baseline' }) {
  const W = 820;
  const LABEL_W = 330;
  const X0 = LABEL_W + 10;
  const BAR_W = 380;
  const ROW = 22;
  const BAR_H = 15;
  let y = 28;
  const parts = [];
  parts.push(`<text x="10" y="${y}" font-size="15" font-weight="bold">${esc(title)}</text>`);
  for (const line of [subtitle].flat().filter(Boolean)) {
    y += 16;
    parts.push(`<text x="10" y="${y}" font-size="11" fill="#555">${esc(line)}</text>`);
  }
  y += 14;
  for (const g of groups) {
    y += 18;
    parts.push(`<text x="10" y="${y}" font-size="12" font-weight="bold">${esc(g.title)} (${esc(g.unit)})</text>`);
    y += 6;
    const top = y;
    const hi = Math.max(...g.bars.map((b) => (Number.isFinite(b.max) ? b.max : 0)), g.goal?.value ?? 0) * 1.08 || 1;
    const sx = (v) => X0 + (Math.max(0, v) / hi) * BAR_W;
    for (const b of g.bars) {
      const cy = y + ROW / 2;
      const fill = b.baseline ? '#9ca3af' : '#2563eb';
      parts.push(`<text x="${X0 - 6}" y="${cy + 4}" font-size="11" text-anchor="end">${esc(b.label)}</text>`);
      parts.push(
        `<rect x="${X0}" y="${cy - BAR_H / 2}" width="${Math.max(1, sx(b.median) - X0).toFixed(1)}" height="${BAR_H}" fill="${fill}"/>`,
      );
      if (Number.isFinite(b.min) && Number.isFinite(b.max) && b.max > b.min) {
        const x1 = sx(b.min).toFixed(1);
        const x2 = sx(b.max).toFixed(1);
        parts.push(`<line x1="${x1}" y1="${cy}" x2="${x2}" y2="${cy}" stroke="#111" stroke-width="1"/>`);
        parts.push(
          `<line x1="${x1}" y1="${cy - 4}" x2="${x1}" y2="${cy + 4}" stroke="#111"/><line x1="${x2}" y1="${cy - 4}" x2="${x2}" y2="${cy + 4}" stroke="#111"/>`,
        );
      }
      const tx = Math.max(sx(b.median), Number.isFinite(b.max) ? sx(b.max) : 0) + 6;
      parts.push(`<text x="${tx.toFixed(1)}" y="${cy + 4}" font-size="11">${esc(num(b.median))}</text>`);
      y += ROW;
    }
    if (g.goal && Number.isFinite(g.goal.value)) {
      const gx = sx(g.goal.value).toFixed(1);
      parts.push(`<line x1="${gx}" y1="${top}" x2="${gx}" y2="${y}" stroke="#dc2626" stroke-dasharray="4 3" stroke-width="1.5"/>`);
      parts.push(`<text x="${gx}" y="${y + 10}" font-size="10" fill="#dc2626" text-anchor="middle">goal ${esc(g.goal.text)}</text>`);
      y += 10;
    }
  }
  y += 28;
  parts.push(`<rect x="10" y="${y - 10}" width="12" height="10" fill="#2563eb"/><text x="27" y="${y}" font-size="11">reapq</text>`);
  parts.push(
    `<rect x="80" y="${y - 10}" width="12" height="10" fill="#9ca3af"/><text x="97" y="${y}" font-size="11">${esc(baselineLegend)}</text>`,
  );
  parts.push(`<text x="170" y="${y}" font-size="11" fill="#555">bar: median over runs; whisker: min-max</text>`);
  y += 12;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}
