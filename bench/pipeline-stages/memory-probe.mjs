/**
 * Where a process's RSS goes, over time: preload it into the gateway (or any node process)
 *
 *   NODE_OPTIONS="--import /abs/path/bench/pipeline-stages/memory-probe.mjs" MUJO_MEMORY_PROBE_DIR=/tmp/m …
 *
 * and every 2 s it appends one JSON line to <dir>/<pid>-<script>.jsonl: process.memoryUsage()
 * (rss, V8 heap total/used, external, arrayBuffers), V8's per-space sizes, and from
 * /proc/self/smaps_rollup and /proc/self/status the kernel's split of RSS into anonymous
 * memory (V8 heap pages, ArrayBuffer stores, malloc: onnxruntime and other native
 * allocations) and file-backed pages (the node binary, shared libraries such as
 * libonnxruntime, i.e. code). Plain JavaScript so it needs no loader of its own.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import process from 'node:process';
import { setInterval } from 'node:timers';
import v8 from 'node:v8';

const dir = process.env.MUJO_MEMORY_PROBE_DIR;
if (dir) {
  mkdirSync(dir, { recursive: true });
  const script = basename(process.argv[1] ?? 'node').replace(/\.[cm]?[jt]s$/, '');
  const file = join(dir, `${process.pid}-${script}.jsonl`);
  const kB = (text, key) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const sample = () => {
    const m = process.memoryUsage();
    let status = '';
    try {
      status = readFileSync('/proc/self/status', 'utf8');
    } catch {
      // not Linux: the kernel's split is left out
    }
    const spaces = {};
    for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = s.space_used_size;
    const line = {
      atMs: Date.now(),
      uptimeS: Math.round(process.uptime()),
      ...m,
      rssAnon: kB(status, 'RssAnon'),
      rssFile: kB(status, 'RssFile'),
      rssShmem: kB(status, 'RssShmem'),
      heapSpacesUsed: spaces,
      mallocedMemory: v8.getHeapStatistics().malloced_memory,
      externalMemory: v8.getHeapStatistics().external_memory,
    };
    appendFileSync(file, JSON.stringify(line) + '\n');
  };
  setInterval(sample, 2000).unref();
}
