/** The panel's eight lane colours (style/base.css), shared by the graph and the chart. */
const COLORS = 8;

/** The CSS class of colour `index` (any integer; the colours repeat). */
export function colorClass(index: number): string {
  return `jp-nbversion-c${index % COLORS}`;
}
