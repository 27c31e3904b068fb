/**
 * The live page a coach uses, in Chromium against the real HTTP server and SSE stream (the
 * gateway behind it scripted through the same GatewayView app.ts implements): per-person cards
 * with display names, the last hour as a timeline of activity bands (legend with time per
 * activity), the top three, the skeleton drawn from the subject's tracked pose, the current set,
 * devices with battery, RSSI, rate and last seen, stop events without the ended activity's tiny
 * probability, the offline banner when the gateway goes away, and the empty state of a new
 * gateway. At desktop and phone width; screenshots go to MUJO_SCREENSHOTS (docs/img for the README).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createHttpServer, type HttpServer } from '../../gateway/http/server.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { chromiumSkipReason, launchChromium, screenshotDir } from '../helpers/chromium.ts';
import { ScriptedView } from '../unit/http/scripted-view.ts';

const skip = chromiumSkipReason();
const MIN = 60_000;

/** A person standing, arms a little out: COCO-17 (x, y, score) in normalised image coordinates. */
const STANDING = [
  [0.5, 0.15],
  [0.52, 0.13],
  [0.48, 0.13],
  [0.54, 0.14],
  [0.46, 0.14],
  [0.58, 0.25],
  [0.42, 0.25],
  [0.62, 0.38],
  [0.38, 0.38],
  [0.64, 0.5],
  [0.36, 0.5],
  [0.55, 0.52],
  [0.45, 0.52],
  [0.56, 0.7],
  [0.44, 0.7],
  [0.57, 0.88],
  [0.43, 0.88],
].flatMap(([x, y]) => [x as number, y as number, 0.9]);

const iso = (msAgo: number): string => new Date(Date.now() - msAgo).toISOString();

function scriptedGateway(): ScriptedView {
  const view = new ScriptedView();
  view.gatewayInfo = { ...view.gatewayInfo, subjectNames: { s2: 'Alice Martin' } };
  view.healthRegistry.set('model', { status: 'up', details: { provider: 'cpu' } });
  view.healthRegistry.set('mqtt', { status: 'up' });
  return view;
}

/** Non-transparent pixels of a canvas, in a rectangle given as fractions of its size. */
function paintedPixels(selector: string, x0 = 0, y0 = 0, x1 = 1, y1 = 1): string {
  return `(() => {
    const c = document.querySelector(${JSON.stringify(selector)});
    const x = Math.floor(c.width * ${x0}), y = Math.floor(c.height * ${y0});
    const w = Math.max(1, Math.floor(c.width * ${x1}) - x), h = Math.max(1, Math.floor(c.height * ${y1}) - y);
    const d = c.getContext('2d').getImageData(x, y, w, h).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  })()`;
}

/** The colour of one pixel of a canvas, at fractions of its size. */
function pixel(selector: string, fx: number, fy: number): string {
  return `(() => {
    const c = document.querySelector(${JSON.stringify(selector)});
    return Array.from(c.getContext('2d').getImageData(Math.floor(c.width * ${fx}), Math.floor(c.height * ${fy}), 1, 1).data);
  })()`;
}

describe('live page in Chromium', { skip }, () => {
  let browser: Browser;
  let server: HttpServer;
  let view: ScriptedView;
  let url: string;
  let page: Page;
  let shots: string;
  const pageErrors: string[] = [];

  before(async () => {
    shots = screenshotDir();
    view = scriptedGateway();
    server = createHttpServer({ logger: silentLogger(), view, port: 0, sse: { heartbeatMs: 1000 } });
    url = await server.start();
    // The last hour of Alice (s2), as the gateway's state updates told it: jogging from
    // 50 min ago, waving from 30 min ago, jogging again from 10 min ago.
    for (const [ago, activity, name, confidence] of [
      [50 * MIN, 'jog', 'jogging', 0.9],
      [30 * MIN, 'wave', 'waving', 0.6],
      [10 * MIN, 'jog', 'jogging', 0.85],
    ] as const) {
      view.pushState({
        subject: 's2',
        activity,
        activityName: name,
        confidence,
        modalities: ['imu', 'pose'],
        reps: 0,
        since: iso(ago),
        updated: iso(ago),
      });
    }
    view.pushState({
      subject: 's2',
      activity: 'jog',
      activityName: 'jogging',
      confidence: 0.85,
      modalities: ['imu', 'pose'],
      reps: 5,
      since: iso(10 * MIN),
    });
    view.pushActivity('s4', 'wave', 'waving', 0.62, ['imu']);
    view.pushDevice('imu-s2', 'imu', 's2', true, { battery: 76, rssi: -61, rateHz: 52 });
    view.pushDevice('imu-s4', 'imu', 's4', false, { battery: 12, rssi: -88, lastSeen: iso(3 * MIN) });
    view.pushDevice('cam1', 'camera', null, true, { rateHz: 15 });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // Any script error or CSP violation shows up here and fails the test.
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const card = (subject: string) => page.locator(`article.card[data-subject="${subject}"]`);

  it('shows each person by display name with activity, confidence, modalities and reps', async () => {
    await page.goto(url);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    await card('s2').waitFor();
    assert.equal(await page.locator('article.card').count(), 2);
    assert.equal(await card('s2').locator('.display').textContent(), 'Alice Martin');
    assert.equal(await card('s2').locator('.sid').textContent(), 's2');
    assert.equal(await card('s4').locator('.display').textContent(), 's4', 'no name configured: the id');
    assert.equal(await card('s2').locator('.activity').textContent(), 'jogging');
    assert.equal(await card('s2').locator('.conf').textContent(), '85 %');
    assert.equal(await card('s2').locator('.reps').textContent(), '5 reps');
    assert.deepEqual(await card('s2').locator('.badge.on').allTextContents(), ['IMU', 'pose']);
    assert.deepEqual(await card('s4').locator('.badge.off').allTextContents(), ['pose']);
    assert.match((await card('s2').locator('.since').textContent()) ?? '', /^since .+ · 10 min \d+ s$/);
    assert.equal(await page.locator('#status-model').textContent(), 'mujo-utd 1.0.0');
    assert.equal(await page.locator('#status-mqtt').textContent(), 'up');
    assert.ok(await page.locator('#empty-state').isHidden(), 'a gateway with people shows no empty state');
  });

  it("draws the last hour as bands per activity, with each activity's time in the legend", async () => {
    const legend = card('s2').locator('.legend li');
    assert.deepEqual(await legend.evaluateAll((lis) => lis.map((li) => li.getAttribute('data-activity'))), [
      'jog',
      'wave',
    ]);
    // Jogging 50→30 min ago and 10 min ago → now; waving 30→10 min ago.
    assert.match((await legend.nth(0).textContent()) ?? '', /^jogging30 min \d+ s$/);
    assert.match((await legend.nth(1).textContent()) ?? '', /^waving20 min \d+ s$/);
    const canvas = 'article.card[data-subject="s2"] canvas.timeline';
    const before = await page.evaluate<number[]>(pixel(canvas, 5 / 60, 0.97));
    assert.equal(before[3], 0, 'nothing before the first point (55 min ago)');
    const jog = await page.evaluate<number[]>(pixel(canvas, 20 / 60, 0.97));
    const wave = await page.evaluate<number[]>(pixel(canvas, 40 / 60, 0.97));
    const jogNow = await page.evaluate<number[]>(pixel(canvas, 55 / 60, 0.97));
    assert.ok(jog[3]! > 0 && wave[3]! > 0, 'bands at 40 and 20 min ago');
    assert.deepEqual(jog, jogNow, 'the same activity, the same colour');
    assert.notDeepEqual(jog, wave, 'another activity, another colour');
    // Height is confidence: near the top only the sure jogging band (0.9) reaches, not waving (0.6).
    const high = await page.evaluate<number[]>(pixel(canvas, 20 / 60, 0.2));
    const highWave = await page.evaluate<number[]>(pixel(canvas, 40 / 60, 0.2));
    assert.ok(high[3]! > 0 && highWave[3] === 0, `jog ${String(high)} wave ${String(highWave)}`);
  });

  it('shows the top three and the skeleton of the tracked pose, live', async () => {
    view.scores$.next({
      subject: 's2',
      time: iso(0),
      top: [
        { activity: 'jog', name: 'jogging', confidence: 0.71 },
        { activity: 'wave', name: 'waving', confidence: 0.2 },
        { activity: 'squat', name: 'squat', confidence: 0.05 },
      ],
      modalities: ['imu', 'pose'],
    });
    await card('s2').locator('.top3 li[data-activity="squat"]').waitFor({ timeout: 5000 });
    assert.deepEqual(await card('s2').locator('.top3 li').allTextContents(), [
      'jogging71 %',
      'waving20 %',
      'squat5 %',
    ]);
    assert.ok(await card('s2').locator('.pose').isHidden(), 'no pose yet: no skeleton box');
    view.poses$.next({ subject: 's2', source: 'cam1/3', time: iso(0), keypoints: STANDING });
    await card('s2').locator('canvas.skeleton[data-keypoints="17"]').waitFor({ timeout: 5000 });
    assert.equal(await card('s2').locator('.pose .meta').textContent(), 'cam1/3');
    const painted = await page.evaluate<number>(
      paintedPixels('article.card[data-subject="s2"] canvas.skeleton'),
    );
    assert.ok(painted > 200, `skeleton drawn (${painted} pixels)`);
    // Hidden keypoints (low score) are not drawn: only the head is left.
    view.poses$.next({
      subject: 's2',
      source: 'cam1/3',
      time: iso(0),
      keypoints: STANDING.map((v, i) => (i % 3 === 2 && i > 14 ? 0.05 : v)),
    });
    await card('s2').locator('canvas.skeleton[data-keypoints="5"]').waitFor({ timeout: 5000 });
    assert.ok(
      await card('s4').locator('.pose').isHidden(),
      'a person without a camera track has no skeleton',
    );
  });

  it('shows the current set and the set summary', async () => {
    const rep = {
      v: 1 as const,
      gateway: 'test-gw',
      subject: 's2',
      kind: 'rep' as const,
      activity: 'jog',
      set: 2,
      count: 5,
      time: iso(0),
      timeNs: Date.now() * 1e6,
      modality: 'imu' as const,
      confidence: 0.8,
      seq: 100,
    };
    view.reps$.next(rep);
    await card('s2').locator('.set[data-state="open"]').waitFor({ timeout: 5000 });
    assert.equal(await card('s2').locator('.set').textContent(), 'set 2 · 5 reps of jogging');
    view.reps$.next({ ...rep, kind: 'set', count: 12, meanRepS: 2.43, seq: 101 });
    await card('s2').locator('.set[data-state="done"]').waitFor({ timeout: 5000 });
    assert.equal(
      await card('s2').locator('.set').textContent(),
      'set 2 done · 12 reps of jogging · 2.4 s/rep',
    );
  });

  it('lists devices with battery, RSSI, rate and last seen', async () => {
    const device = (id: string) => page.locator(`#devices li[data-device="${id}"]`);
    assert.equal(await page.locator('#devices li').count(), 3);
    assert.deepEqual(await device('imu-s2').locator('.stat').allTextContents(), [
      'battery 76 %',
      'RSSI -61 dBm',
      '52 Hz',
      'streaming',
    ]);
    assert.equal(await device('imu-s2').locator('.who').textContent(), 'Alice Martin');
    assert.ok(await device('imu-s4').locator('.stat.battery.low').isVisible(), 'low battery stands out');
    assert.match(
      (await device('imu-s4').locator('.stat.seen').textContent()) ?? '',
      /^seen 3 min \d+ s ago$/,
    );
    assert.equal(await device('cam1').locator('.who').textContent(), 'unassigned');
    view.pushDevice('imu-s2', 'imu', 's2', false, { battery: 75, rssi: -70, lastSeen: iso(0) });
    await page.locator('#devices li.down[data-device="imu-s2"]').waitFor({ timeout: 5000 });
  });

  it('says how long an ended activity lasted, not its last tiny probability', async () => {
    view.pushEnded('s4', 83_000);
    await page.locator('#events li.ended').first().waitFor({ timeout: 5000 });
    const ended = page.locator('#events li.ended').first();
    assert.match((await ended.locator('.what').textContent()) ?? '', /^s4 stopped waving$/);
    assert.equal(await ended.locator('.meta').textContent(), 'lasted 1 min 23 s · imu');
    await page.locator('article.card.idle[data-subject="s4"]').waitFor({ timeout: 5000 });
    assert.equal(await card('s4').locator('.top3 li').count(), 0, 'no top three once nothing goes on');
    view.pushActivity('s2', 'wave', 'waving', 0.77, ['imu', 'pose'], 1);
    await page.locator('#events li.changed').first().waitFor({ timeout: 5000 });
    assert.match(
      (await page.locator('#events li').first().textContent()) ?? '',
      /Alice Martin started waving77 %/,
    );
  });

  it('looks right on desktop and phone (screenshots)', async () => {
    await page.screenshot({ path: `${shots}/live-page-desktop.png`, fullPage: true });
    const phone = await browser.newPage({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
    });
    await phone.goto(url);
    await phone.locator('article.card[data-subject="s2"] .legend li').first().waitFor({ timeout: 10_000 });
    view.poses$.next({ subject: 's2', source: 'cam1/3', time: iso(0), keypoints: STANDING });
    await phone.locator('article.card[data-subject="s2"] canvas.skeleton[data-keypoints="17"]').waitFor();
    // Nothing wider than the phone: no sideways scrolling. (String expressions: the test's
    // tsconfig has no DOM types.)
    const overflow = await phone.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    assert.equal(overflow, 0);
    const timelineWidth = await phone.evaluate<number>(
      `document.querySelector('article.card[data-subject="s2"] canvas.timeline').clientWidth`,
    );
    assert.ok(timelineWidth > 250 && timelineWidth <= 390, `timeline fits the phone: ${timelineWidth}px`);
    await phone.screenshot({ path: `${shots}/live-page-phone.png`, fullPage: true });
    await phone.close();
  });

  it('shows a clear offline banner when the gateway goes away, and recovers', async () => {
    assert.ok(await page.locator('#offline').isHidden());
    const port = Number(new URL(url).port);
    await server.stop();
    await page.locator('#offline:not([hidden])').waitFor({ timeout: 10_000 });
    assert.match((await page.locator('#offline').textContent()) ?? '', /Gateway offline\.[\s\S]*frozen/);
    assert.equal(await page.locator('body.is-offline').count(), 1);
    await page.screenshot({ path: `${shots}/live-page-offline.png` });
    view = scriptedGateway();
    view.healthRegistry.set('mqtt', { status: 'degraded' });
    view.pushActivity('s8', 'jog', 'jogging', 0.7, ['imu']);
    server = createHttpServer({ logger: silentLogger(), view, port });
    await server.start();
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
    await page.locator('#offline[hidden]').waitFor({ state: 'attached', timeout: 5000 });
    await card('s8').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('article.card').count(), 1, 'the snapshot replaces the old people');
    assert.equal(await page.locator('#status-mqtt').textContent(), 'degraded');
  });

  it('tells a new gateway how to add a wearable or a phone', async () => {
    const empty = new ScriptedView();
    const emptyServer = createHttpServer({ logger: silentLogger(), view: empty, port: 0 });
    const emptyUrl = await emptyServer.start();
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    phone.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    try {
      await phone.goto(emptyUrl);
      await phone.locator('#empty-state:not([hidden])').waitFor({ timeout: 10_000 });
      assert.equal(await phone.locator('#ingest-topic').textContent(), 'mujo/test-gw/ingest/<device>/imu');
      // This gateway offers no BLE: the page says so instead of offering a scan that fails.
      await phone.locator('#scan[disabled]').waitFor({ state: 'attached', timeout: 5000 });
      assert.match((await phone.locator('#nearby-empty').textContent()) ?? '', /Bluetooth is off/);
      await phone.screenshot({ path: `${shots}/live-page-empty-phone.png`, fullPage: true });
      empty.pushDevice('phone-1', 'imu', null, true);
      await phone.locator('#empty-state[hidden]').waitFor({ state: 'attached', timeout: 5000 });
    } finally {
      await phone.close();
      await emptyServer.stop();
    }
  });

  it("measures time on the gateway's clock, not the browser's (a tablet 3 h off)", async () => {
    const skewed = new ScriptedView();
    const SKEW_MS = 3 * 3_600_000;
    skewed.nowMs = () => Date.now() - SKEW_MS;
    const tenMinAgo = new Date(Date.now() - SKEW_MS - 10 * MIN).toISOString();
    skewed.pushDevice('imu-s1', 'imu', 's1', true);
    skewed.pushState({
      subject: 's1',
      activity: 'jog',
      activityName: 'jogging',
      confidence: 0.8,
      modalities: ['imu'],
      reps: 0,
      since: tenMinAgo,
      updated: tenMinAgo,
    });
    const skewedServer = createHttpServer({ logger: silentLogger(), view: skewed, port: 0 });
    const skewedUrl = await skewedServer.start();
    const tab = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await tab.goto(skewedUrl);
      const s1 = tab.locator('article.card[data-subject="s1"]');
      await s1.locator('.legend li').first().waitFor({ timeout: 10_000 });
      assert.match((await s1.locator('.since').textContent()) ?? '', /· 10 min \d+ s$/);
      assert.match((await s1.locator('.legend li').first().textContent()) ?? '', /^jogging10 min \d+ s$/);
    } finally {
      await tab.close();
      await skewedServer.stop();
    }
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
