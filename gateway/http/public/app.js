// Live page of the mujo gateway: plain JS, no build step. State comes from /api/events
// (server-sent events): a `snapshot` on every (re)connect (with the last hour per person),
// then `activity`, `state`, `reps`, `scores` (top three, 1 Hz), `pose` (skeleton, 5 Hz),
// `device` and `model` updates. Text from the gateway is only ever set with textContent.
'use strict';

const MAX_EVENTS = 30;
const HEALTH_POLL_MS = 10_000;
const TIMELINE_MS = 3_600_000;
/** A skeleton older than this is greyed out: the camera lost the person. */
const POSE_STALE_MS = 5000;
const TOKEN_KEY = 'mujo-http-token';

const subjects = new Map(); // subject id -> latest SubjectState
const devices = new Map(); // device id -> latest DeviceState
const timelines = new Map(); // subject id -> [[tMs, activity|null, confidence], ...] oldest first
const tops = new Map(); // subject id -> [{activity, name, confidence}] newest hop
const poses = new Map(); // subject id -> {time, source, keypoints, at}
const sets = new Map(); // subject id -> newest reps event
const activityNames = new Map(); // activity id -> display name
let subjectNames = {};
let events = []; // newest first
let lastHealth = null;
let model = null;
let info = null;
let live = false;
let offlineSince = null;
/** Gateway clock minus this browser's, from the snapshot: times from the gateway are on its clock. */
let clockOffsetMs = 0;
const gatewayNow = () => Date.now() + clockOffsetMs;

const { $, el } = window.mujoPage;

function pct(confidence) {
  return `${Math.round(Math.max(0, Math.min(1, Number(confidence) || 0)) * 100)} %`;
}

function clock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? ''
    : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function ago(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : duration(gatewayNow() - t);
}

function displayName(subject) {
  return subjectNames[subject] || subject;
}

function activityName(id) {
  if (id === null || id === undefined) return 'idle';
  return activityNames.get(id) || id;
}

/** A stable colour per activity, so a band means the same thing in every timeline. */
function activityColor(id, alpha = 1) {
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsla(${h}, 65%, 48%, ${alpha})`;
}

function badges(modalities) {
  const box = el('div', 'badges');
  const present = new Set(modalities || []);
  for (const [id, label] of [
    ['imu', 'IMU'],
    ['pose', 'pose'],
  ]) {
    const b = el('span', `badge ${present.has(id) ? 'on' : 'off'}`, label);
    b.title = present.has(id) ? `${label} contributes` : `no ${label} for this person right now`;
    box.append(b);
  }
  return box;
}

// ---- timeline (last hour per person) -----------------------------------------------------

function addPoint(subject, point) {
  if (!Number.isFinite(point[0])) return;
  let points = timelines.get(subject);
  if (!points) timelines.set(subject, (points = []));
  let at = points.length;
  while (at > 0 && points[at - 1][0] > point[0]) at--;
  points.splice(at, 0, point);
  const cutoff = gatewayNow() - TIMELINE_MS;
  while (points.length > 1 && points[1][0] <= cutoff) points.shift();
}

/** Minutes per activity in the window, and the bands to draw: [from, to, activity, confidence]. */
function bands(points, now) {
  const from = now - TIMELINE_MS;
  const out = [];
  for (let i = 0; i < points.length; i++) {
    const [t, activity, confidence] = points[i];
    const end = i + 1 < points.length ? points[i + 1][0] : now;
    const start = Math.max(t, from);
    if (activity !== null && end > start) out.push([start, end, activity, confidence]);
  }
  return out;
}

function drawTimeline(card, subject) {
  const canvas = card.querySelector('canvas.timeline');
  const width = canvas.clientWidth || 300;
  const height = canvas.clientHeight || 44;
  const scale = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * scale)) canvas.width = Math.round(width * scale);
  if (canvas.height !== Math.round(height * scale)) canvas.height = Math.round(height * scale);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const now = gatewayNow();
  const x = (t) => ((t - (now - TIMELINE_MS)) / TIMELINE_MS) * width;
  // Quarter-hour grid: where the eye finds "15 min ago".
  ctx.fillStyle = getComputedStyle(canvas).getPropertyValue('--grid') || '#ccc';
  for (let q = 1; q < 4; q++) ctx.fillRect(Math.round((q / 4) * width), 0, 1, height);
  const totals = new Map();
  for (const [start, end, activity, confidence] of bands(timelines.get(subject) || [], now)) {
    // Height is the confidence: a tall band is a sure one.
    const h = Math.max(3, confidence * (height - 2));
    ctx.fillStyle = activityColor(activity, 0.85);
    ctx.fillRect(x(start), height - h, Math.max(1, x(end) - x(start)), h);
    totals.set(activity, (totals.get(activity) || 0) + (end - start));
  }
  const legend = card.querySelector('.legend');
  const sorted = [...totals.entries()].sort((a, b) => b[1] - a[1]);
  legend.replaceChildren(
    ...sorted.map(([activity, ms]) => {
      const li = el('li');
      li.dataset.activity = activity;
      const swatch = el('span', 'swatch');
      swatch.style.background = activityColor(activity);
      li.append(swatch, el('span', 'name', activityName(activity)), el('span', 'meta', duration(ms)));
      return li;
    }),
  );
  canvas.setAttribute(
    'aria-label',
    sorted.length
      ? `last hour: ${sorted.map(([a, ms]) => `${activityName(a)} ${duration(ms)}`).join(', ')}`
      : 'last hour: no activity',
  );
  canvas.dataset.bands = String(bands(timelines.get(subject) || [], now).length);
}

// ---- skeleton (COCO-17) ------------------------------------------------------------------

const BONES = [
  [5, 7],
  [7, 9],
  [6, 8],
  [8, 10], // arms
  [5, 6],
  [5, 11],
  [6, 12],
  [11, 12], // torso
  [11, 13],
  [13, 15],
  [12, 14],
  [14, 16], // legs
  [0, 1],
  [0, 2],
  [1, 3],
  [2, 4], // head
];
const MIN_SCORE = 0.2;

function drawPose(card, subject) {
  const box = card.querySelector('.pose');
  const pose = poses.get(subject);
  box.hidden = !pose;
  if (!pose) return;
  const canvas = box.querySelector('canvas');
  const width = canvas.clientWidth || 120;
  const height = canvas.clientHeight || 90;
  const scale = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const k = pose.keypoints;
  const ok = (i) => k[i * 3 + 2] >= MIN_SCORE;
  // Fit the visible keypoints into the box, keeping the aspect ratio.
  let minX = 1,
    minY = 1,
    maxX = 0,
    maxY = 0,
    seen = 0;
  for (let i = 0; i < 17; i++) {
    if (!ok(i)) continue;
    seen++;
    minX = Math.min(minX, k[i * 3]);
    maxX = Math.max(maxX, k[i * 3]);
    minY = Math.min(minY, k[i * 3 + 1]);
    maxY = Math.max(maxY, k[i * 3 + 1]);
  }
  canvas.dataset.keypoints = String(seen);
  const stale = Date.now() - pose.at > POSE_STALE_MS;
  box.classList.toggle('stale', stale);
  box.querySelector('.meta').textContent = stale
    ? `no pose for ${duration(Date.now() - pose.at)}`
    : pose.source;
  if (seen === 0) return;
  const span = Math.max(maxX - minX, maxY - minY, 0.05);
  const s = (Math.min(width, height) - 12) / span;
  const ox = (width - (maxX - minX) * s) / 2;
  const oy = (height - (maxY - minY) * s) / 2;
  const px = (i) => ox + (k[i * 3] - minX) * s;
  const py = (i) => oy + (k[i * 3 + 1] - minY) * s;
  ctx.lineWidth = 2.5;
  ctx.lineCap = 'round';
  ctx.strokeStyle = stale ? '#999' : activityColor(subjects.get(subject)?.activity || 'pose');
  ctx.beginPath();
  for (const [a, b] of BONES) {
    if (!ok(a) || !ok(b)) continue;
    ctx.moveTo(px(a), py(a));
    ctx.lineTo(px(b), py(b));
  }
  ctx.stroke();
  ctx.fillStyle = stale ? '#999' : '#222';
  for (let i = 0; i < 17; i++) {
    if (!ok(i)) continue;
    ctx.beginPath();
    ctx.arc(px(i), py(i), 2.2, 0, Math.PI * 2);
    ctx.fill();
  }
}

// ---- person cards ------------------------------------------------------------------------

function cardFor(id) {
  let card = document.querySelector(`article.card[data-subject="${CSS.escape(id)}"]`);
  if (card) return card;
  card = el('article', 'card');
  card.dataset.subject = id;
  const head = el('header', 'card-head');
  const title = el('h3', 'subject');
  title.append(el('span', 'display'), el('span', 'sid'));
  head.append(title, el('span', 'reps'));
  const bar = el('div', 'bar');
  bar.append(el('div', 'fill'));
  const row = el('div', 'conf-row');
  row.append(bar, el('span', 'conf'));
  const now = el('div', 'now');
  const main = el('div', 'now-main');
  main.append(el('div', 'activity'), row, el('div', 'set'), el('ol', 'top3'));
  const pose = el('figure', 'pose');
  pose.hidden = true;
  const canvas = el('canvas', 'skeleton');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', 'tracked pose');
  pose.append(canvas, el('figcaption', 'meta'));
  now.append(main, pose);
  const tl = el('div', 'tl');
  const timeline = el('canvas', 'timeline');
  timeline.setAttribute('role', 'img');
  const axis = el('div', 'axis');
  axis.append(el('span', '', '−60 min'), el('span', '', '−30'), el('span', '', 'now'));
  tl.append(timeline, axis, el('ul', 'legend'));
  const foot = el('div', 'card-foot');
  foot.append(el('span', 'mods'), el('span', 'since'));
  card.append(head, now, tl, foot);
  // Keep cards in subject order so they do not jump around on updates.
  const grid = $('subjects');
  const after = [...grid.querySelectorAll('article.card')].find(
    (c) => c.dataset.subject.localeCompare(id, undefined, { numeric: true }) > 0,
  );
  grid.insertBefore(card, after || null);
  $('subjects-empty').hidden = true;
  renderEmptyState();
  return card;
}

function renderSubject(state) {
  const card = cardFor(state.subject);
  card.querySelector('.display').textContent = displayName(state.subject);
  card.querySelector('.sid').textContent = displayName(state.subject) === state.subject ? '' : state.subject;
  const activity = card.querySelector('.activity');
  const previous = card.dataset.activity;
  if (state.activity && state.activityName) activityNames.set(state.activity, state.activityName);
  activity.textContent = state.activity ? activityName(state.activity) : 'idle';
  card.dataset.activity = state.activity || '';
  card.classList.toggle('idle', !state.activity);
  card.querySelector('.fill').style.width = pct(state.activity ? state.confidence : 0).replace(' ', '');
  card.querySelector('.conf').textContent = state.activity ? pct(state.confidence) : '';
  const reps = Number(state.reps) || 0;
  card.querySelector('.reps').textContent = reps > 0 ? `${reps} rep${reps === 1 ? '' : 's'}` : '';
  card.querySelector('.mods').replaceChildren(badges(state.modalities));
  card.dataset.since = state.since || '';
  renderSince(card);
  renderTop(card, state.subject);
  renderSet(card, state.subject);
  drawTimeline(card, state.subject);
  drawPose(card, state.subject);
  if (previous !== undefined && previous !== card.dataset.activity) {
    card.classList.remove('changed');
    void card.offsetWidth; // restart the highlight animation
    card.classList.add('changed');
  }
}

function renderTop(card, subject) {
  const top = tops.get(subject) || [];
  card.querySelector('.top3').replaceChildren(
    ...top.slice(0, 3).map((c) => {
      const li = el('li');
      li.dataset.activity = c.activity;
      const bar = el('span', 'mini');
      const fill = el('span', 'mini-fill');
      fill.style.width = pct(c.confidence).replace(' ', '');
      fill.style.background = activityColor(c.activity);
      bar.append(fill);
      li.append(
        el('span', 'name', c.name || activityName(c.activity)),
        bar,
        el('span', 'meta', pct(c.confidence)),
      );
      return li;
    }),
  );
}

function renderSet(card, subject) {
  const r = sets.get(subject);
  const node = card.querySelector('.set');
  if (!r) {
    node.textContent = '';
    return;
  }
  const what = activityName(r.activity);
  if (r.kind === 'rep') {
    node.textContent = `set ${r.set} · ${r.count} rep${r.count === 1 ? '' : 's'} of ${what}`;
    node.dataset.state = 'open';
  } else {
    const mean = r.meanRepS ? ` · ${r.meanRepS.toFixed(1)} s/rep` : '';
    node.textContent = `set ${r.set} done · ${r.count} rep${r.count === 1 ? '' : 's'} of ${what}${mean}`;
    node.dataset.state = 'done';
  }
}

function renderSince(card) {
  const since = card.dataset.since;
  card.querySelector('.since').textContent = since ? `since ${clock(since)} · ${ago(since)}` : '';
}

// ---- events ------------------------------------------------------------------------------

function renderEvents() {
  const list = $('events');
  list.replaceChildren(
    ...events.map((e) => {
      const li = el('li', `event ${e.transition}${e.activity === 'unknown' ? ' unknown' : ''}`);
      li.dataset.seq = String(e.seq);
      const ended = e.transition === 'ended';
      const when = el('time', 'when', clock(ended && e.end ? e.end : e.start));
      when.dateTime = ended && e.end ? e.end : e.start;
      const what = el('span', 'what');
      what.append(
        el('b', 'who', displayName(e.subject)),
        document.createTextNode(` ${ended ? 'stopped' : 'started'} `),
        el('b', 'act', e.activityName || e.activity),
      );
      // An `ended` event's confidence is the ended activity's at the hop it lost, always small:
      // show how long it lasted instead.
      const lasted =
        ended && e.end ? `lasted ${duration(Date.parse(e.end) - Date.parse(e.start))}` : pct(e.confidence);
      const meta = el('span', 'meta', `${lasted} · ${(e.modalities || []).join('+') || '–'}`);
      // Open set: what was closest, and how close (cosine) against the threshold.
      if (e.openSet && !ended) {
        meta.title = `closest ${e.openSet.candidate}: ${e.openSet.score.toFixed(2)} (threshold ${e.openSet.threshold ?? 'none'})`;
        if (e.activity === 'unknown')
          meta.textContent += ` · closest ${e.openSet.candidate} ${e.openSet.score.toFixed(2)}`;
      }
      li.append(when, what, meta);
      return li;
    }),
  );
  $('events-empty').hidden = events.length > 0;
}

function addEvent(e) {
  events = [e, ...events.filter((x) => x.seq !== e.seq)].slice(0, MAX_EVENTS);
  renderEvents();
}

// ---- devices, status ---------------------------------------------------------------------

function renderDevices() {
  const list = $('devices');
  const sorted = [...devices.values()].sort((a, b) =>
    a.device.localeCompare(b.device, undefined, { numeric: true }),
  );
  list.replaceChildren(
    ...sorted.map((d) => {
      const li = el('li', `device ${d.connected ? 'up' : 'down'}`);
      li.dataset.device = d.device;
      const head = el('div', 'device-head');
      head.append(
        el('span', 'dot'),
        el('span', 'name', d.device),
        el('span', 'who', d.subject ? displayName(d.subject) : 'unassigned'),
      );
      const stats = el('div', 'stats');
      const stat = (cls, text, title) => {
        const s = el('span', `stat ${cls}`, text);
        s.title = title;
        return s;
      };
      stats.append(
        stat(
          'battery',
          d.battery === null || d.battery === undefined ? 'battery –' : `battery ${Math.round(d.battery)} %`,
          'battery',
        ),
        stat(
          'rssi',
          d.rssi === null || d.rssi === undefined ? 'RSSI –' : `RSSI ${Math.round(d.rssi)} dBm`,
          'signal strength',
        ),
        stat('rate', d.rateHz ? `${Math.round(d.rateHz)} Hz` : '– Hz', 'measured sample rate'),
        stat(
          'seen',
          d.connected ? 'streaming' : d.lastSeen ? `seen ${ago(d.lastSeen)} ago` : 'never seen',
          d.lastSeen || '',
        ),
      );
      if (d.battery !== null && d.battery !== undefined && d.battery < 20)
        stats.querySelector('.battery').classList.add('low');
      li.append(head, stats);
      li.dataset.lastSeen = d.lastSeen || '';
      return li;
    }),
  );
  $('devices-empty').hidden = sorted.length > 0;
  renderEmptyState();
}

function renderEmptyState() {
  // The first thing a gateway with no sensor shows (people may be configured, but nothing
  // watches them yet): how to give it something to watch.
  $('empty-state').hidden = !info || devices.size > 0;
}

function renderStatus() {
  $('status-model').textContent = model ? `${model.name} ${model.version}` : 'none';
  const providers = model ? [...new Set((model.encoders || []).map((e) => e.provider))] : [];
  $('status-provider').textContent = providers.length ? providers.join(', ') : '–';
  for (const c of (model && model.classes) || []) activityNames.set(c.id, c.name);
  const components = (lastHealth && lastHealth.components) || {};
  const mqttKey = Object.keys(components).find((k) => k === 'mqtt' || k.startsWith('mqtt'));
  const mqtt = $('status-mqtt');
  mqtt.textContent = mqttKey ? components[mqttKey].status : 'off';
  mqtt.dataset.state = mqttKey ? components[mqttKey].status : 'off';
  const health = $('status-health');
  health.textContent = lastHealth ? lastHealth.status : '–';
  health.dataset.state = lastHealth ? lastHealth.status : '';
}

function renderInfo() {
  $('gateway-id').textContent = info.gateway || '';
  document.title = `mujo ${info.gateway || 'gateway'} · live`;
  subjectNames = info.subjectNames || {};
  window.mujoSubjectNames = subjectNames; // onboard.js names people the same way
  const code = $('mqtt-cmd');
  const copy = $('mqtt-copy');
  const base = info.mqtt ? info.mqtt.baseTopic : 'mujo';
  $('ingest-topic').textContent = `${base}/${info.gateway}/ingest/<device>/imu`;
  if (!info.mqtt) {
    code.textContent = 'MQTT is not enabled on this gateway.';
    copy.hidden = true;
    return;
  }
  // A broker bound to every interface is reachable under the name this page came from.
  const anyHost = ['0.0.0.0', '::', ''].includes(info.mqtt.host);
  const host = anyHost ? location.hostname : info.mqtt.host;
  code.textContent = `mosquitto_sub -h ${host} -p ${info.mqtt.port}${info.mqtt.mqtt311Only ? ' -V mqttv311' : ''} -t '${info.mqtt.baseTopic}/${info.gateway}/#' -v`;
  copy.hidden = !navigator.clipboard;
}

async function pollHealth() {
  try {
    const res = await fetch('/health', { cache: 'no-store' });
    lastHealth = await res.json();
    // The gateway answers again; the banner goes once the live stream is back too.
    if (live) setOffline(false);
  } catch {
    lastHealth = null;
    setOffline(true);
  }
  renderStatus();
}

// ---- live connection ---------------------------------------------------------------------

function setConn(state, text) {
  const conn = $('conn');
  conn.dataset.state = state;
  conn.textContent = text;
}

/** The banner: nobody should coach from numbers that stopped moving without knowing it. */
function setOffline(offline) {
  if (offline && offlineSince === null) offlineSince = Date.now();
  if (!offline) offlineSince = null;
  document.body.classList.toggle('is-offline', offline);
  $('offline').hidden = !offline;
  if (offline)
    $('offline-text').textContent =
      `No contact with the gateway since ${clock(new Date(offlineSince).toISOString())} (${duration(Date.now() - offlineSince)}); what you see is frozen.`;
}

let source = null;
let retryMs = 1000;

function connect() {
  if (source) source.close();
  setConn('connecting', 'connecting…');
  source = new EventSource('/api/events');
  source.addEventListener('open', () => {
    retryMs = 1000;
    live = true;
    setConn('live', 'live');
    setOffline(false);
  });
  source.addEventListener('error', () => {
    live = false;
    setOffline(true);
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. an HTTP error); retry ourselves with backoff.
      setConn('down', 'offline, retrying…');
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    } else {
      setConn('down', 'offline, reconnecting…');
    }
  });
  source.addEventListener('snapshot', (msg) => {
    const snap = JSON.parse(msg.data);
    if (snap.now) clockOffsetMs = Date.parse(snap.now) - Date.now();
    model = snap.model;
    lastHealth = snap.health;
    info = snap.info;
    renderStatus();
    renderInfo();
    const history = snap.history || { timeline: {}, reps: {}, names: {} };
    for (const [id, name] of Object.entries(history.names || {})) activityNames.set(id, name);
    timelines.clear();
    for (const [s, points] of Object.entries(history.timeline || {})) timelines.set(s, points.slice());
    sets.clear();
    for (const [s, r] of Object.entries(history.reps || {})) sets.set(s, r);
    subjects.clear();
    for (const card of document.querySelectorAll('article.card')) card.remove();
    events = [...snap.recent].reverse().slice(0, MAX_EVENTS);
    // Until the first `scores` of a person: the top three of their newest event.
    tops.clear();
    for (const e of [...events].reverse()) if (e.transition !== 'ended') tops.set(e.subject, topOf(e));
    for (const s of snap.subjects) {
      subjects.set(s.subject, s);
      renderSubject(s);
    }
    $('subjects-empty').hidden = snap.subjects.length > 0;
    devices.clear();
    for (const d of snap.devices) devices.set(d.device, d);
    renderDevices();
    renderEvents();
    renderEmptyState();
    document.dispatchEvent(new CustomEvent('mujo:subjects', { detail: [...subjects.keys()] }));
  });
  source.addEventListener('state', (msg) => {
    const s = JSON.parse(msg.data);
    const isNew = !subjects.has(s.subject);
    subjects.set(s.subject, s);
    addPoint(s.subject, [Date.parse(s.updated), s.activity, s.activity === null ? 0 : s.confidence]);
    renderSubject(s);
    if (isNew) document.dispatchEvent(new CustomEvent('mujo:subjects', { detail: [...subjects.keys()] }));
  });
  source.addEventListener('activity', (msg) => {
    const e = JSON.parse(msg.data);
    activityNames.set(e.activity, e.activityName);
    addEvent(e);
    const ended = e.transition === 'ended';
    addPoint(
      e.subject,
      ended ? [Date.parse(e.end || e.start), null, 0] : [Date.parse(e.start), e.activity, e.confidence],
    );
    // The top three are of the activity going on; none is, after it ended.
    if (ended) tops.delete(e.subject);
    else tops.set(e.subject, topOf(e));
    // Show the change at once; the state update that follows fills in reps and since.
    const known = subjects.get(e.subject);
    const next = ended
      ? {
          ...(known || { reps: 0 }),
          subject: e.subject,
          activity: null,
          activityName: null,
          confidence: 0,
          since: null,
        }
      : {
          ...(known || { reps: 0 }),
          subject: e.subject,
          activity: e.activity,
          activityName: e.activityName,
          confidence: e.confidence,
          modalities: e.modalities,
          since: known && known.activity === e.activity ? known.since : e.start,
        };
    subjects.set(e.subject, next);
    renderSubject(next);
  });
  source.addEventListener('scores', (msg) => {
    const s = JSON.parse(msg.data);
    tops.set(s.subject, s.top);
    const card = document.querySelector(`article.card[data-subject="${CSS.escape(s.subject)}"]`);
    if (card) renderTop(card, s.subject);
  });
  source.addEventListener('pose', (msg) => {
    const p = JSON.parse(msg.data);
    poses.set(p.subject, { ...p, at: Date.now() });
    const card = document.querySelector(`article.card[data-subject="${CSS.escape(p.subject)}"]`);
    if (card) drawPose(card, p.subject);
  });
  source.addEventListener('reps', (msg) => {
    const r = JSON.parse(msg.data);
    sets.set(r.subject, r);
    const card = document.querySelector(`article.card[data-subject="${CSS.escape(r.subject)}"]`);
    if (card) renderSet(card, r.subject);
  });
  // The model changed (reload, enrollment, another version).
  source.addEventListener('model', (msg) => {
    model = JSON.parse(msg.data);
    renderStatus();
  });
  source.addEventListener('device', (msg) => {
    const d = JSON.parse(msg.data);
    devices.set(d.device, d);
    renderDevices();
  });
}

function topOf(e) {
  return (e.topK || []).slice(0, 3).map((c) => ({ ...c, name: activityName(c.activity) }));
}

// ---- the token (one field for every change the page makes) -----------------------------

const tokenInput = $('token');
tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || '';
tokenInput.addEventListener('change', () => sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim()));

$('mqtt-copy').addEventListener('click', async () => {
  await navigator.clipboard.writeText($('mqtt-cmd').textContent);
  $('mqtt-copy').textContent = 'Copied';
  setTimeout(() => ($('mqtt-copy').textContent = 'Copy'), 1500);
});

setInterval(() => {
  for (const card of document.querySelectorAll('article.card')) {
    renderSince(card);
    drawPose(card, card.dataset.subject);
  }
  if (!live && offlineSince !== null) setOffline(true);
}, 1000);
// Bands grow with time even when nothing changes.
setInterval(() => {
  for (const card of document.querySelectorAll('article.card')) drawTimeline(card, card.dataset.subject);
  renderDevices();
}, 5000);
window.addEventListener('resize', () => {
  for (const card of document.querySelectorAll('article.card')) drawTimeline(card, card.dataset.subject);
});
setInterval(pollHealth, HEALTH_POLL_MS);
connect();
