// Live page of the mujo gateway: plain JS, no build step. State comes from /api/events
// (server-sent events): a `snapshot` on every (re)connect, then `activity`, `state` and
// `device` updates. Text from the gateway is only ever set with textContent.
'use strict';

const MAX_EVENTS = 30;
const HEALTH_POLL_MS = 10_000;

const subjects = new Map(); // subject id -> latest SubjectState
const devices = new Map(); // device id -> latest DeviceState
let events = []; // newest first
let lastHealth = null;
let model = null;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function pct(confidence) {
  return `${Math.round(Math.max(0, Math.min(1, Number(confidence) || 0)) * 100)} %`;
}

function clock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? ''
    : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function badges(modalities) {
  const box = el('div', 'badges');
  const present = new Set(modalities || []);
  for (const [id, label] of [
    ['imu', 'IMU'],
    ['pose', 'pose'],
  ]) {
    const b = el('span', `badge ${present.has(id) ? 'on' : 'off'}`, label);
    b.title = present.has(id) ? `${label} contributes` : `no ${label} for this subject right now`;
    box.append(b);
  }
  return box;
}

// ---- subject cards -------------------------------------------------------------------

function cardFor(id) {
  let card = document.querySelector(`article.card[data-subject="${CSS.escape(id)}"]`);
  if (card) return card;
  card = el('article', 'card');
  card.dataset.subject = id;
  const head = el('header', 'card-head');
  head.append(el('h3', 'subject', id), el('span', 'reps'));
  const bar = el('div', 'bar');
  bar.append(el('div', 'fill'));
  const row = el('div', 'conf-row');
  row.append(bar, el('span', 'conf'));
  const foot = el('div', 'card-foot');
  foot.append(el('span', 'mods'), el('span', 'since'));
  card.append(head, el('div', 'activity'), row, foot);
  // Keep cards in subject order so they do not jump around on updates.
  const grid = $('subjects');
  const after = [...grid.querySelectorAll('article.card')].find(
    (c) => c.dataset.subject.localeCompare(id, undefined, { numeric: true }) > 0,
  );
  grid.insertBefore(card, after || null);
  $('subjects-empty').hidden = true;
  return card;
}

function renderSubject(state) {
  const card = cardFor(state.subject);
  const activity = card.querySelector('.activity');
  const previous = card.dataset.activity;
  const name = state.activityName || (state.activity ? state.activity : 'idle');
  activity.textContent = name;
  card.dataset.activity = state.activity || '';
  card.classList.toggle('idle', !state.activity);
  card.querySelector('.fill').style.width = pct(state.activity ? state.confidence : 0).replace(' ', '');
  card.querySelector('.conf').textContent = state.activity ? pct(state.confidence) : '';
  const reps = Number(state.reps) || 0;
  card.querySelector('.reps').textContent = reps > 0 ? `${reps} rep${reps === 1 ? '' : 's'}` : '';
  card.querySelector('.mods').replaceChildren(badges(state.modalities));
  card.dataset.since = state.since || '';
  renderSince(card);
  if (previous !== undefined && previous !== card.dataset.activity) {
    card.classList.remove('changed');
    void card.offsetWidth; // restart the highlight animation
    card.classList.add('changed');
  }
}

function renderSince(card) {
  const since = card.dataset.since;
  card.querySelector('.since').textContent = since ? `since ${clock(since)} · ${ago(since)}` : '';
}

// ---- events ----------------------------------------------------------------------------

function renderEvents() {
  const list = $('events');
  list.replaceChildren(
    ...events.map((e) => {
      const li = el('li', `event ${e.transition}${e.activity === 'unknown' ? ' unknown' : ''}`);
      li.dataset.seq = String(e.seq);
      const when = el('time', 'when', clock(e.transition === 'ended' && e.end ? e.end : e.start));
      when.dateTime = e.start;
      const what = el('span', 'what');
      what.append(
        el('b', 'who', e.subject),
        document.createTextNode(` ${e.transition === 'ended' ? 'stopped' : 'started'} `),
        el('b', 'act', e.activityName || e.activity),
      );
      const meta = el('span', 'meta', `${pct(e.confidence)} · ${(e.modalities || []).join('+') || '–'}`);
      // Open set: what was closest, and how close (cosine) against the threshold.
      if (e.openSet) {
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

// ---- devices, status -----------------------------------------------------------------

function renderDevices() {
  const list = $('devices');
  const sorted = [...devices.values()].sort((a, b) =>
    a.device.localeCompare(b.device, undefined, { numeric: true }),
  );
  list.replaceChildren(
    ...sorted.map((d) => {
      const li = el('li', `device ${d.connected ? 'up' : 'down'}`);
      li.dataset.device = d.device;
      li.append(
        el('span', 'dot'),
        el('span', 'name', d.device),
        el(
          'span',
          'meta',
          [
            d.kind,
            d.subject,
            d.rateHz ? `${Math.round(d.rateHz)} Hz` : null,
            d.connected ? null : 'disconnected',
          ]
            .filter(Boolean)
            .join(' · '),
        ),
      );
      return li;
    }),
  );
  $('devices-empty').hidden = sorted.length > 0;
}

function renderStatus() {
  $('status-model').textContent = model ? `${model.name} ${model.version}` : 'none';
  const providers = model ? [...new Set((model.encoders || []).map((e) => e.provider))] : [];
  $('status-provider').textContent = providers.length ? providers.join(', ') : '–';
  const components = (lastHealth && lastHealth.components) || {};
  const mqttKey = Object.keys(components).find((k) => k === 'mqtt' || k.startsWith('mqtt'));
  const mqtt = $('status-mqtt');
  mqtt.textContent = mqttKey ? components[mqttKey].status : 'off';
  mqtt.dataset.state = mqttKey ? components[mqttKey].status : 'off';
  const health = $('status-health');
  health.textContent = lastHealth ? lastHealth.status : '–';
  health.dataset.state = lastHealth ? lastHealth.status : '';
}

function renderInfo(info) {
  $('gateway-id').textContent = info.gateway || '';
  document.title = `mujo ${info.gateway || 'gateway'} · live`;
  const code = $('mqtt-cmd');
  const copy = $('mqtt-copy');
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
  } catch {
    lastHealth = null;
  }
  renderStatus();
}

// ---- live connection -----------------------------------------------------------------

function setConn(state, text) {
  const conn = $('conn');
  conn.dataset.state = state;
  conn.textContent = text;
}

let source = null;
let retryMs = 1000;

function connect() {
  if (source) source.close();
  setConn('connecting', 'connecting…');
  source = new EventSource('/api/events');
  source.addEventListener('open', () => {
    retryMs = 1000;
    setConn('live', 'live');
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. an HTTP error); retry ourselves with backoff.
      setConn('down', 'offline, retrying…');
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    } else {
      setConn('connecting', 'reconnecting…');
    }
  });
  source.addEventListener('snapshot', (msg) => {
    const snap = JSON.parse(msg.data);
    model = snap.model;
    lastHealth = snap.health;
    renderInfo(snap.info);
    subjects.clear();
    for (const card of document.querySelectorAll('article.card')) card.remove();
    for (const s of snap.subjects) {
      subjects.set(s.subject, s);
      renderSubject(s);
    }
    $('subjects-empty').hidden = snap.subjects.length > 0;
    devices.clear();
    for (const d of snap.devices) devices.set(d.device, d);
    renderDevices();
    events = [...snap.recent].reverse().slice(0, MAX_EVENTS);
    renderEvents();
    renderStatus();
  });
  source.addEventListener('state', (msg) => {
    const s = JSON.parse(msg.data);
    subjects.set(s.subject, s);
    renderSubject(s);
  });
  source.addEventListener('activity', (msg) => {
    const e = JSON.parse(msg.data);
    addEvent(e);
    // Show the change at once; the state update that follows fills in reps and since.
    const known = subjects.get(e.subject);
    if (e.transition !== 'ended') {
      const next = {
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
    }
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

$('mqtt-copy').addEventListener('click', async () => {
  await navigator.clipboard.writeText($('mqtt-cmd').textContent);
  $('mqtt-copy').textContent = 'Copied';
  setTimeout(() => ($('mqtt-copy').textContent = 'Copy'), 1500);
});

setInterval(() => document.querySelectorAll('article.card').forEach(renderSince), 1000);
setInterval(pollHealth, HEALTH_POLL_MS);
connect();
