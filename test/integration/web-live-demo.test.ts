/**
 * The live page on a real gateway: the bundled demo (UTD-MHAD subjects, wrist IMU and camera
 * pose from recordings/demo) through the bundled model, real mosquitto, Chromium. What the
 * scripted page test shows with pushed values must come from the pipeline here: each person's
 * skeleton from the pose track the recording assigns them (SSE `pose`), the top three of the
 * newest hop (SSE `scores`), the timeline growing from activity events and states, and the
 * reps counted. Screenshot: live-page-demo.png in MUJO_SCREENSHOTS (docs/img for the README).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { screenshotDir } from '../helpers/chromium.ts';
import { browserRig, demoPageSkipReason } from '../helpers/browser-rig.ts';

const skip = demoPageSkipReason();
const rig = browserRig('mujo-live-demo-', skip);

test('the demo gateway fills the live page: skeletons, top three, timelines', { skip }, async () => {
  const config = validateConfig({
    gateway: { id: 'demo-page' },
    mqtt: { url: rig.broker.url, queue: { spoolDir: join(rig.workDir, 'spool') } },
    http: { enabled: true, port: 0 },
    ingest: { enabled: false },
    replay: { path: 'recordings/demo', speed: 1, loop: true },
    subjects: [{ id: 's2', name: 'Sam (s2)' }],
    log: { level: 'silent' },
  });
  const app = new GatewayApp(config, { logger: silentLogger() });
  const pageErrors: string[] = [];
  try {
    const { http } = await app.start();
    assert.ok(http);
    const page = await rig.browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));
    await page.goto(http, { waitUntil: 'domcontentloaded', timeout: 60_000 });
    const card = page.locator('article.card[data-subject="s2"]');
    await card.waitFor({ timeout: 60_000 });
    assert.equal(await card.locator('.display').textContent(), 'Sam (s2)');
    // The recording's pose track of s2, tracked keypoints drawn.
    const skeleton = card.locator('canvas.skeleton');
    await skeleton.waitFor({ timeout: 60_000 });
    await page.waitForFunction(
      `Number(document.querySelector('article.card[data-subject="s2"] canvas.skeleton')?.dataset.keypoints) >= 10`,
      undefined,
      { timeout: 30_000 },
    );
    assert.match((await card.locator('.pose .meta').textContent()) ?? '', /\//, 'named by its camera track');
    // Three classes of the newest hop, most probable first, named by the model.
    await card.locator('.top3 li').nth(2).waitFor({ timeout: 60_000 });
    const model = app.models.requireCurrent();
    const names = new Set(model.classes.map((c) => c.name));
    const tops = await card.locator('.top3 li .name').allTextContents();
    assert.ok(
      tops.every((t) => names.has(t)),
      `${tops.join(', ')} are class names`,
    );
    const pcts = (await card.locator('.top3 li .meta').allTextContents()).map((t) => Number.parseInt(t, 10));
    assert.deepEqual(
      pcts,
      [...pcts].sort((a, b) => b - a),
      'most probable first',
    );
    // The timeline has bands as soon as an activity was announced.
    await card.locator('.legend li').first().waitFor({ timeout: 60_000 });
    assert.ok(Number(await card.locator('canvas.timeline').getAttribute('data-bands')) > 0);
    // Every demo person with a camera track gets a skeleton.
    await page.waitForFunction(
      `document.querySelectorAll('figure.pose:not([hidden])').length >= 4`,
      undefined,
      {
        timeout: 30_000,
      },
    );
    await page.screenshot({ path: join(screenshotDir(), 'live-page-demo.png'), fullPage: true });
    await page.close();
  } finally {
    await app.stop();
  }
  assert.deepEqual(
    pageErrors.filter((e) => !/status of 503/.test(e)),
    [],
  );
});
