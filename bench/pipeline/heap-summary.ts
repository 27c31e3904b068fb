/**
 * What fills the gateway's JS heap: self size and count per constructor, from a V8 heap
 * snapshot taken at the end of a measured interval (run the benchmark with
 * MUJO_BENCH_HEAP_SNAPSHOT=<dir>). Typed-array payloads count where V8 reports them.
 *
 *   node --import tsx bench/pipeline/heap-summary.ts <file>.heapsnapshot [top=25]
 */
import { readFileSync } from 'node:fs';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export function summariseHeap(snap: HeapSnapshot, top = 25): string {
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const groups = new Map<string, { bytes: number; count: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] ?? '?';
    const name = snap.strings[snap.nodes[i + nameAt] as number] ?? '?';
    const bytes = snap.nodes[i + sizeAt] as number;
    total += bytes;
    // Strings and code are grouped by kind, objects by constructor.
    const key =
      type === 'object' || type === 'native'
        ? `${type}: ${name}`
        : type === 'closure'
          ? `closure: ${name || '(anonymous)'}`
          : type;
    const g = groups.get(key) ?? { bytes: 0, count: 0 };
    g.bytes += bytes;
    g.count++;
    groups.set(key, g);
  }
  const mb = (b: number) => (b / 2 ** 20).toFixed(1).padStart(6);
  const lines = [`heap snapshot: ${mb(total)} MB in ${snap.nodes.length / width} nodes (self sizes)`];
  for (const [k, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top))
    lines.push(`  ${mb(g.bytes)} MB  ${String(g.count).padStart(8)} ×  ${k}`);
  return lines.join('\n');
}

const file = process.argv[2];
if (file) {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  console.log(summariseHeap(snap, Number(process.argv[3] ?? 25)));
}
