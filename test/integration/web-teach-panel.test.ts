/**
 * The live page's "Teach it your activities" panel in Chromium against a real gateway (demo
 * replay, bundled model, real mosquitto): with the token typed in, enrolling a class from the
 * form makes a new model version whose class is listed with its example counts; the version
 * list shows it serving and rolling back from the page restores the bundled model. Recording
 * and labelling an interval from the page, then "Enroll its labels", teaches the labelled class.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { browserRig, demoPageSkipReason } from '../helpers/browser-rig.ts';

const skip = demoPageSkipReason();
const rig = browserRig('mujo-teach-', skip);

test('enroll a class from the live page, see it with its example counts, roll back', { skip }, async () => {
  const config = validateConfig({
    gateway: { id: 'teach' },
    mqtt: { url: rig.broker.url, queue: { spoolDir: join(rig.workDir, 'spool') } },
    http: { enabled: true, port: 0, token: 'page-token' },
    ingest: { enabled: false },
    replay: { path: 'recordings/demo', speed: 1, loop: true },
    enrollment: { storeDir: join(rig.workDir, 'models') },
    recorder: { enabled: true, dir: join(rig.workDir, 'recordings') },
    log: { level: 'silent' },
  });
  const app = new GatewayApp(config, { logger: silentLogger() });
  const pageErrors: string[] = [];
  try {
    const { http } = await app.start();
    const page = await rig.browser.newPage({ viewport: { width: 1280, height: 1200 } });
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));
    await page.goto(http!, { waitUntil: 'domcontentloaded', timeout: 120_000 });
    await page.locator('#teach:not([hidden])').waitFor({ timeout: 20_000 });
    const bundled = app.models.requireCurrent();
    await page.locator(`#classes li[data-class="${bundled.classes[0]!.id}"]`).waitFor();
    assert.equal(await page.locator('#classes li').count(), bundled.classes.length);
    await page
      .locator('#enroll-subject option[value="s2"], #enroll-subject option:text-is("s2")')
      .first()
      .waitFor({
        state: 'attached',
        timeout: 30_000,
      });

    // Without the token the gateway refuses, and the page says why.
    await page.selectOption('#enroll-subject', 's2');
    await page.fill('#enroll-class', 'page_move');
    await page.fill('#enroll-name', 'Page move');
    await page.fill('#enroll-seconds', '3');
    await page.click('#enroll-submit');
    await page.locator('#enroll-result.error').waitFor();
    assert.match((await page.locator('#enroll-result').textContent()) ?? '', /HTTP_UNAUTHORIZED/);

    await page.fill('#token', 'page-token');
    await page.locator('#token').dispatchEvent('change');
    await page.click('#enroll-submit');
    await page.locator('#enroll-result:not(.error)', { hasText: 'serving' }).waitFor({ timeout: 60_000 });
    const enrolled = page.locator('#classes li.enrolled[data-class="page_move"]');
    await enrolled.waitFor();
    assert.equal(await enrolled.locator('.name').textContent(), 'Page move');
    assert.match(
      (await enrolled.locator('.meta').textContent()) ?? '',
      /^1 example · \d+ imu \+ \d+ pose windows$/,
    );
    const serving = app.models.requireCurrent().version;
    await page.locator(`#versions li.active[data-version="${serving}"]`).waitFor();
    // The header follows the model serving (SSE `model`).
    await page.locator('#status-model', { hasText: serving }).waitFor();

    await page.click('#rollback');
    await page
      .locator('#versions-result', { hasText: `serving ${bundled.name} ${bundled.version}` })
      .waitFor();
    assert.equal(app.models.requireCurrent().dir, bundled.dir);
    await page.locator('#classes li[data-class="page_move"]').waitFor({ state: 'detached' });

    // Record, label an interval of s4 from the page, stop, enroll the recording's labels.
    // (Labels are stamped with the gateway's clock, so the replay runs at real time here.)
    await page.locator('#rec-status', { hasText: 'idle' }).waitFor();
    await page.click('#rec-start');
    await page.locator('#rec-result', { hasText: 'recording to' }).waitFor();
    await page.selectOption('#label-subject', 's4');
    await page.fill('#label-activity', 'recorded_move');
    const labelBeganNs = Date.now() * 1e6;
    await page.click('#label-begin');
    await page.locator('#rec-result', { hasText: 's4: recorded_move from now' }).waitFor();
    // Enough data for several windows: wait until the gateway has windowed s4 up to 5 s past
    // the label's start (labels are stamped with the gateway clock, like the data at speed 1).
    await new Promise<void>((resolve) => {
      const sub = app.embeddings$.subscribe((e) => {
        if (e.window.subjectId === 's4' && e.window.endNs >= labelBeganNs + 5e9) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    await page.click('#label-end');
    await page.locator('#rec-result', { hasText: 'label ended' }).waitFor();
    await page.click('#rec-stop');
    await page.locator('#rec-result', { hasText: 'stopped' }).waitFor();
    await page.locator('#rec-enroll:not([disabled])').waitFor();
    await page.click('#rec-enroll');
    await page.locator('#rec-result', { hasText: /serving|[A-Z]+_[A-Z_]+:/ }).waitFor({ timeout: 60_000 });
    await page.locator('#rec-result:not(.error)', { hasText: 'serving' }).waitFor({ timeout: 60_000 });
    assert.match((await page.locator('#rec-result').textContent()) ?? '', /^recorded_move \(1\) → /);
    await page.locator('#classes li.enrolled[data-class="recorded_move"]').waitFor();

    // The only console error allowed is the refused request above (401).
    assert.deepEqual(
      pageErrors.filter((e) => !e.includes('401')),
      [],
    );
  } finally {
    await app.stop();
  }
});
