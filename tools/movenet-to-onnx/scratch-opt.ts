import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
ort.env.logLevel = 'error';
const v = process.argv[2] ?? 'lightning';
await ort.InferenceSession.create(readFileSync(`models/movenet/${v}.onnx`), { intraOpNumThreads: 2, graphOptimizationLevel: 'all', optimizedModelFilePath: `/tmp/${v}-opt.onnx` });
