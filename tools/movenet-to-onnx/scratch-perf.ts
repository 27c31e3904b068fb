import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
ort.env.logLevel = 'error';
for (const v of ['lightning', 'thunder', 'multipose']) {
  const size = v === 'lightning' ? 192 : 256;
  const s = await ort.InferenceSession.create(readFileSync(`models/movenet/${v}.onnx`), { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
  const x = new Float32Array(size * size * 3).map(() => Math.floor(Math.random() * 256));
  const feeds = { input: new ort.Tensor('float32', x, [1, size, size, 3]) };
  for (let i = 0; i < 10; i++) await s.run(feeds);
  const t = performance.now(); const n = 50;
  for (let i = 0; i < n; i++) await s.run(feeds);
  const out = (await s.run(feeds)).output!;
  console.log(v, ((performance.now() - t) / n).toFixed(2), 'ms', out.dims, Array.from(out.data as Float32Array).slice(0, 6));
}
