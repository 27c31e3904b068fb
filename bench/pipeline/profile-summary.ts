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
  return lines.join('\n');
}

const file = process.argv[2];
if (file) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(summarise(profile, Number(process.argv[3] ?? 25)));
}
