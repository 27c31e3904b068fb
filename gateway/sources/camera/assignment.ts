import { munkres } from 'munkres';

/**
 * Optimal one-to-one assignment of rows to columns minimising total cost (Hungarian /
 * Munkres, via the `munkres` package), where pairs costlier than `maxCost` (or not finite)
 * are forbidden: they are priced above any allowed solution so the solver avoids them, and
 * any it still returns (a row with no allowed column) is dropped.
 * Returns [row, col] pairs.
 */
export function assignMinCost(cost: readonly (readonly number[])[], maxCost: number): [number, number][] {
  const rows = cost.length;
  const cols = rows > 0 ? (cost[0]?.length ?? 0) : 0;
  if (rows === 0 || cols === 0) return [];
  let worstAllowed = 0;
  for (const row of cost)
    for (const c of row)
      if (Number.isFinite(c) && c <= maxCost) worstAllowed = Math.max(worstAllowed, Math.abs(c));
  // Larger than any sum of allowed costs, so one forbidden pair never beats a feasible set.
  const forbidden = (worstAllowed + 1) * (Math.min(rows, cols) + 1);
  const m = cost.map((row) => row.map((c) => (Number.isFinite(c) && c <= maxCost ? c : forbidden)));
  const out: [number, number][] = [];
  for (const [r, c] of munkres(m)) {
    const v = cost[r]?.[c];
    if (v !== undefined && Number.isFinite(v) && v <= maxCost) out.push([r, c]);
  }
  return out;
}
