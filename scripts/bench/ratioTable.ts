/** Ours next to the floor, with the ratio, as a Markdown table (the idle benches' summaries). */
export type RatioRow = [label: string, ours: number, floor: number];

export function ratioTable(rows: RatioRow[]): string {
  const lines = ['| | ours | floor | ×floor |', '|---|---:|---:|---:|'];
  for (const [label, a, b] of rows) lines.push(`| ${label} | ${fmtN(a)} | ${fmtN(b)} | ${Number.isFinite(a / b) ? (a / b).toFixed(2) + '×' : '–'} |`);
  return lines.join('\n');
}

function fmtN(n: number): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: 1 }) : '–';
}
