/**
 * Where the gateway's main thread spends its time: self time per function and per source
 * area, from a V8 .cpuprofile written by `npm run bench:pipeline -- --cpu-prof` (profiles in
 * bench/pipeline/profiles/). onnxruntime's own threads do not appear here (native, off the
 * main thread); only the JS side of `session.run` does.
 *
 *   node --import tsx bench/pipeline/profile-summary.ts bench/pipeline/profiles/X.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The part of the code base a URL belongs to, for the per-area totals. */
function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native / builtin)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `npm:${nm[1]}`;
  const own =
    /\/work\/[^/]+\/(?:main\/)?((?:gateway|bench|test)\/(?:[^/]+\/)?)/.exec(url) ??
    /((?:gateway|bench|test)\/(?:[^/]+\/)?)/.exec(url);
  if (own) return own[1] as string;
  if (url.startsWith('node:')) return 'node:internal';
  return url;
}

export function summarise(profile: CpuProfile, top = 25): string {
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = profile.endTime - profile.startTime;
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url.replace(/^file:\/\/\/work\/main\//, '').replace(/^.*node_modules\//, '');
    const key = `${functionName || '(anonymous)'}  ${short ? `${short}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
  }
  const longTasks = longTaskSummary(profile, 50_000, top);
  const pct = (us: number) => `${((us / totalUs) * 100).toFixed(1).padStart(5)} %`;
  const lines = [
    `profile ${(totalUs / 1e6).toFixed(1)} s of main-thread wall time`,
    '',
    'self time by area:',
  ];
  for (const [k, v] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(v)}  ${k}`);
  lines.push('', 'self time by function:');
  for (const [k, v] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top))
    lines.push(`  ${pct(v)}  ${k}`);
  lines.push('', longTasks);
  return lines.join('\n');
}

/**
 * Stretches where the main thread never went idle for `minUs` or longer (what holds up the
 * event loop and so the latency tail), and the code that ran during them, by the nearest
 * frame of our own code (gateway/…) on the stack, else the leaf.
 */
function longTaskSummary(profile: CpuProfile, minUs: number, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (id: number): string => {
    const leaf = byId.get(id);
    if (!leaf) return '?';
    const leafName = leaf.callFrame.functionName;
    if (leafName === '(garbage collector)' || leafName === '(program)') return leafName;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (f && /\/(gateway|bench)\//.test(f.url)) {
        const file = f.url.replace(/^.*\/((gateway|bench)\/)/, '$1');
        return `${f.functionName || '(anonymous)'}  ${file}`;
      }
    }
    const f = leaf.callFrame;
    return `${leafName || '(anonymous)'}  ${f.url.replace(/^.*node_modules\//, '')}`;
  };
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const tasks: { startUs: number; us: number; ids: number[]; deltas: number[] }[] = [];
  let t = profile.startTime;
  let cur: { startUs: number; us: number; ids: number[]; deltas: number[] } | null = null;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (idle.has(id)) {
      if (cur && cur.us >= minUs) tasks.push(cur);
      cur = null;
      continue;
    }
    cur ??= { startUs: t, us: 0, ids: [], deltas: [] };
    cur.us += dt;
    cur.ids.push(id);
    cur.deltas.push(profile.timeDeltas[i + 1] ?? dt);
  }
  if (cur && cur.us >= minUs) tasks.push(cur);
  const lines = [
    `busy stretches ≥ ${minUs / 1000} ms without going idle: ${tasks.length}, longest ${(Math.max(0, ...tasks.map((x) => x.us)) / 1000).toFixed(0)} ms, total ${(tasks.reduce((s, x) => s + x.us, 0) / 1e6).toFixed(1)} s`,
  ];
  const inTasks = new Map<string, number>();
  let total = 0;
  for (const task of tasks)
    task.ids.forEach((id, k) => {
      const us = task.deltas[k] ?? 0;
      const key = label(id);
      inTasks.set(key, (inTasks.get(key) ?? 0) + us);
      total += us;
    });
  for (const [k, v] of [...inTasks].sort((a, b) => b[1] - a[1]).slice(0, top))
    lines.push(`  ${((v / Math.max(1, total)) * 100).toFixed(1).padStart(5)} %  ${k}`);
  return lines.join('\n');
}

const file = process.argv[2];
if (file) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(summarise(profile, Number(process.argv[3] ?? 25)));
}
