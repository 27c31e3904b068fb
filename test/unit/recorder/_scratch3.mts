import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { Registry } from 'prom-client';
import { Recorder } from '../../../gateway/sinks/recorder/index.ts';
import { demoChunks, feed, fixedClock, ORIGIN_2026_NS } from './support.ts';
const mp = '/tmp/g8/disk'; mkdirSync(mp, { recursive: true });
spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mp]);
const { chunks } = await demoChunks(ORIGIN_2026_NS);
const rec = new Recorder({ gatewayId: 'gw', registry: new Registry(), clock: fixedClock(ORIGIN_2026_NS), options: { dir: mp } });
const { dir } = await rec.start({ name: 'x' });
const fed = await feed(rec, chunks, 5);
await new Promise(r => setTimeout(r, 500));
console.log('fed', fed, JSON.stringify(rec.status().last));
for (const sub of ['', 'imu', 'pose']) for (const f of readdirSync(dir + '/' + sub)) { const p = `${dir}/${sub}/${f}`; const st = statSync(p); if (st.isFile()) { const txt = readFileSync(p, 'utf8'); console.log(sub, f, st.size, 'endsWithNewline', txt.endsWith('\n')); } }
console.log(readFileSync(dir + '/recording.json', 'utf8').slice(0, 900));
spawnSync('umount', [mp]);
