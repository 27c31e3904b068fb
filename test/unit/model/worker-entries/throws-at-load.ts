/*
 * An inference worker entry that can never start, as with a broken install (a native module
 * that does not load): importing it throws. Started by inference-worker tests.
 */
throw new Error('onnxruntime binding failed to load (test entry that throws at load)');
