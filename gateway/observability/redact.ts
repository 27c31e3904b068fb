/** What stands in for a secret in logs, errors, /health and --print-config. */
export const REDACTED = '<redacted>';

/**
 * A URL as it may be shown: the password of `scheme://user:password@host/…` replaced, the
 * user name kept (it helps debugging). Works for any scheme (mqtt, rtsp, http…) and for
 * strings that are not valid URLs.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z0-9+.-]+:\/\/[^:/@]*:)[^@/]*@/i, `$1${REDACTED}@`);
}
