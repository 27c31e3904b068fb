/** An entry of a table bounded by least-recent use: `usedAt` is a counter stamped on each use. */
export interface UseStamped {
  usedAt: number;
}

/**
 * Deletes the least recently used entry when the table is full. Per-source tables stamp a use
 * counter instead of re-inserting into the Map on every chunk (an allocation-free hot path);
 * this linear scan runs only when a new source arrives at a full table, which ids from the
 * network can force, so the bound holds.
 */
export function evictLeastRecentlyUsed(table: Map<string, UseStamped>, capacity: number): void {
  if (table.size < capacity) return;
  let oldest: string | undefined;
  let oldestAt = Infinity;
  for (const [id, entry] of table)
    if (entry.usedAt < oldestAt) {
      oldestAt = entry.usedAt;
      oldest = id;
    }
  if (oldest !== undefined) table.delete(oldest);
}
