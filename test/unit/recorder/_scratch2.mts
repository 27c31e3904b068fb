import { Registry } from 'prom-client';
import { Recorder } from '../../../gateway/sinks/recorder/index.ts';
import { demoChunks, fixedClock, ORIGIN_2026_NS } from './support.ts';
const { recording, chunks } = await demoChunks(ORIGIN_2026_NS);
for (let rep = 0; rep < 3; rep++) {
const rec = new Recorder({ gatewayId: 'test', registry: new Registry(), clock: fixedClock(ORIGIN_2026_NS), options: { dir: '/tmp/g8/recs', maxQueuedBytesPerFile: 64 << 20 } });
await rec.start({ name: 'bench' });
let inWrite = 0, rows = 0, imuRows = 0;
const t1 = performance.now();
for (const c of chunks) { const t = performance.now(); rec.write(c); inWrite += performance.now() - t; rows += c.tNs.length; }
const t2 = performance.now();
const s = await rec.stop();
const t3 = performance.now();
console.log(`rows ${rows} write() ${inWrite.toFixed(0)} ms = ${(inWrite*1000/rows).toFixed(2)} µs/row; stop/drain ${(t3-t2).toFixed(0)} ms; bytes ${s.bytes}; dropped ${JSON.stringify(s.dropped)}; rss ${(process.memoryUsage().rss/1e6).toFixed(0)} MB`);
}
