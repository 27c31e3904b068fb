import { loadConfig } from './gateway/config/load.ts';
import { writeFileSync } from 'node:fs';
writeFileSync('/tmp/dup.yaml', 'http:\n  port: 1\n  port: 2\n');
try { await loadConfig({file: '/tmp/dup.yaml', env: {}}) } catch (e) { console.log((e as Error).message) }
