import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayError, errorMessage } from '../observability/errors.ts';

export interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
}

/** The live page is a few fixed files; serving a fixed map needs no path handling at all. */
const FILES: Record<string, { file: string; contentType: string }> = {
  '/': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/page-kit.js': { file: 'page-kit.js', contentType: 'text/javascript; charset=utf-8' },
  '/app.js': { file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  '/teach.js': { file: 'teach.js', contentType: 'text/javascript; charset=utf-8' },
  '/onboard.js': { file: 'onboard.js', contentType: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', contentType: 'text/css; charset=utf-8' },
};

/**
 * Beside this module when run from source; `tsc` does not copy the page into dist/, so a
 * build run from dist/gateway/http falls back to the source tree's copy.
 */
export const DEFAULT_PUBLIC_DIR =
  [
    fileURLToPath(new URL('./public/', import.meta.url)),
    fileURLToPath(new URL('../../../gateway/http/public/', import.meta.url)),
  ].find((dir) => existsSync(join(dir, 'index.html'))) ??
  fileURLToPath(new URL('./public/', import.meta.url));

export function loadPublicFiles(dir: string = DEFAULT_PUBLIC_DIR): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const [route, { file, contentType }] of Object.entries(FILES)) {
    const path = join(dir, file);
    try {
      files.set(route, { body: readFileSync(path), contentType });
    } catch (cause) {
      throw new GatewayError(
        'HTTP_PUBLIC_MISSING',
        `live page file ${path} cannot be read: ${errorMessage(cause)}`,
        {
          cause,
          details: { file: path },
        },
      );
    }
  }
  return files;
}
