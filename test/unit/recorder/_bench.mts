import { formatFloat32 } from '../../../gateway/sinks/recorder/format.ts';
const n = 1_000_000;
const a = new Float32Array(n);
for (let i = 0; i < n; i++) a[i] = Math.fround(Math.round((Math.random() * 2 - 1) * 1000) / 1000); // 3-decimal data like demo
const b = new Float32Array(n);
for (let i = 0; i < n; i++) b[i] = Math.random() * 20 - 10; // full-precision sensor floats
for (const [name, arr] of [['3-decimal', a], ['random', b]] as const) {
  let len = 0; const t = performance.now();
  for (let i = 0; i < n; i++) len += formatFloat32(arr[i]!).length;
  const dt = performance.now() - t;
  console.log(name, (dt * 1000 / n).toFixed(3), 'µs/value', len / n);
}
function slow(value: number): string {
  if (value === 0) return '0';
  for (let d = 1; d <= 9; d++) { const t = value.toPrecision(d); if (Math.fround(Number(t)) === value) return String(Number(t)); }
  return 'x';
}
let diff = 0, longer = 0;
for (const arr of [a, b]) for (let i = 0; i < 200000; i++) { const f = formatFloat32(arr[i]!), s = slow(arr[i]!); if (f !== s) { diff++; if (f.length > s.length) longer++; if (diff < 5) console.log(arr[i], f, s); } }
console.log('differ', diff, 'longer', longer);
