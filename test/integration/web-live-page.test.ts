import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createHttpServer, type HttpServer } from '../../gateway/http/server.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.ts';
import { ScriptedView } from '../unit/http/scripted-view.ts';

const skip = chromiumSkipReason();

function scriptedGateway(): ScriptedView {
  const view = new ScriptedView();
  view.healthRegistry.set('model', { status: 'up', details: { provider: 'cpu' } });
  view.healthRegistry.set('mqtt', { status: 'up' });
  view.pushActivity('s2', 'jog', 'jogging', 0.9, ['imu', 'pose'], 3);
  view.pushActivity('s4', 'wave', 'waving', 0.62, ['imu']);
  view.pushDevice('imu-s2', 'imu', 's2', true);
  view.pushDevice('imu-s4', 'imu', 's4', true);
  view.pushDevice('cam1', 'camera', null, true);
  return view;
}

describe('live page in Chromium', { skip }, () => {
  let browser: Browser;
  let server: HttpServer;
  let view: ScriptedView;
  let url: string;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    view = scriptedGateway();
    server = createHttpServer({ logger: silentLogger(), view, port: 0, sse: { heartbeatMs: 1000 } });
    url = await server.start();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    // Any script error or CSP violation shows up here and fails the test.
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const card = (subject: string) => page.locator(`article.card[data-subject="${subject}"]`);

  it('shows a card per subject with activity, confidence, modalities and reps', async () => {
    await page.goto(url);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    await card('s2').waitFor();
    assert.equal(await page.locator('article.card').count(), 2);
    assert.equal(await card('s2').locator('.activity').textContent(), 'jogging');
    assert.equal(await card('s2').locator('.conf').textContent(), '90 %');
    assert.equal(await card('s2').locator('.reps').textContent(), '3 reps');
    assert.deepEqual(await card('s2').locator('.badge.on').allTextContents(), ['IMU', 'pose']);
    assert.deepEqual(await card('s4').locator('.badge.on').allTextContents(), ['IMU']);
    assert.deepEqual(await card('s4').locator('.badge.off').allTextContents(), ['pose']);
    assert.equal(await card('s2').locator('.fill').getAttribute('style'), 'width: 90%;');
    assert.match(
      (await card('s2').locator('.since').textContent()) ?? '',
      /^since \d\d?:\d\d:\d\d( [AP]M)? · \d+ s$/,
    );

    assert.equal(await page.locator('#status-model').textContent(), 'mujo-utd 1.0.0');
    assert.equal(await page.locator('#status-provider').textContent(), 'cpu');
    assert.equal(await page.locator('#status-mqtt').textContent(), 'up');
    assert.equal(
      await page.locator('#mqtt-cmd').textContent(),
      "mosquitto_sub -h 127.0.0.1 -p 1883 -t 'mujo/test-gw/#' -v",
    );
    assert.equal(await page.locator('#devices li').count(), 3);
    assert.equal(await page.locator('#events li').count(), 2);
  });

  it('updates when events arrive over SSE: changed activity, a new subject, the event list', async () => {
    view.pushActivity('s4', 'jog', 'jogging', 0.81, ['imu', 'pose'], 1);
    view.pushActivity('s6', 'wave', 'waving', 0.55, ['pose']);
    await page.locator('article.card[data-subject="s4"][data-activity="jog"]').waitFor({ timeout: 5000 });
    assert.equal(await card('s4').locator('.conf').textContent(), '81 %');
    assert.equal(await card('s4').locator('.reps').textContent(), '1 rep');
    await card('s6').waitFor({ timeout: 5000 });
    assert.deepEqual(
      await Promise.all(
        (await page.locator('article.card').all()).map((c) => c.getAttribute('data-subject')),
      ),
      ['s2', 's4', 's6'],
    );
    await page.locator('#events li[data-seq="4"]').waitFor({ timeout: 5000 });
    const first = await page.locator('#events li').first().textContent();
    assert.match(first ?? '', /s6 started waving/);
    assert.equal(await page.locator('#events li').count(), 4);

    view.pushDevice('imu-s4', 'imu', 's4', false);
    await page.locator('#devices li.down[data-device="imu-s4"]').waitFor({ timeout: 5000 });
    view.pushState({
      subject: 's6',
      activity: null,
      activityName: null,
      confidence: 0,
      modalities: [],
      reps: 0,
      since: null,
    });
    await page.locator('article.card.idle[data-subject="s6"]').waitFor({ timeout: 5000 });
    assert.equal(await card('s6').locator('.activity').textContent(), 'idle');
  });

  it('looks right on desktop and phone (screenshots in /tmp)', async () => {
    await page.screenshot({ path: '/tmp/live-page.png', fullPage: true });
    const phone = await browser.newPage({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
    });
    await phone.goto(url);
    await phone.locator('article.card[data-subject="s6"]').waitFor({ timeout: 10_000 });
    // Nothing wider than the phone: no sideways scrolling.
    // A string expression: the test's tsconfig has no DOM types.
    const overflow = await phone.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    assert.equal(overflow, 0);
    await phone.screenshot({ path: '/tmp/live-page-phone.png', fullPage: true });
    await phone.close();
  });

  it('reconnects after the gateway restarts and shows the new state', async () => {
    const port = Number(new URL(url).port);
    await server.stop();
    await page.locator('#conn:not([data-state="live"])').waitFor({ timeout: 5000 });
    view = new ScriptedView();
    view.healthRegistry.set('mqtt', { status: 'degraded' });
    view.pushActivity('s8', 'jog', 'jogging', 0.7, ['imu']);
    server = createHttpServer({ logger: silentLogger(), view, port });
    await server.start();
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
    await card('s8').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('article.card').count(), 1, 'the snapshot replaces the old subjects');
    assert.equal(await page.locator('#status-mqtt').textContent(), 'degraded');
  });

  it('logged no script errors', () => {
    // EventSource logs a console error while the server is down; only the restart may cause those.
    // The page polls /health, which answers 503 by contract while a component is down or
    // starting (the restarted server's first poll): Chromium logs that too. No other route
    // answers 503.
    const unexpected = pageErrors.filter(
      (e) => !/api\/events|ERR_CONNECTION_REFUSED|EventSource|status of 503 \(Service Unavailable\)/.test(e),
    );
    assert.deepEqual(unexpected, []);
  });
});
