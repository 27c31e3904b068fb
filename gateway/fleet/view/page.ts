/**
 * The fleet page, one self-contained document. It is a string in a module rather than a file
 * beside it so the built and installed view serves it from wherever it runs, with no asset
 * path to resolve. It renders the snapshots of /api/fleet/events (no framework, no build).
 */
export const FLEET_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mujo fleet</title>
<style>
  :root { color-scheme: light dark; --ok: #1a7f37; --bad: #c62828; --warn: #b26a00; --muted: #777; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 1rem; max-width: 1100px; }
  h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  .banner { padding: .6rem .8rem; border-radius: 6px; background: var(--bad); color: #fff; margin: .5rem 0; }
  .banner[hidden] { display: none; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #8883; vertical-align: top; }
  th { font-weight: 600; font-size: .85rem; color: var(--muted); }
  .pill { display: inline-block; padding: 0 .5rem; border-radius: 999px; font-size: .8rem; color: #fff; }
  .online { background: var(--ok); } .offline { background: var(--bad); } .unlinked { background: var(--warn); }
  .unknown { background: var(--muted); }
  .num { text-align: right; font-variant-numeric: tabular-nums; }
  .muted { color: var(--muted); }
  .empty { padding: 1rem; border: 1px dashed #8886; border-radius: 6px; }
  @media (max-width: 700px) {
    thead { display: none; }
    tr { display: block; border-bottom: 1px solid #8884; padding: .4rem 0; }
    td { display: flex; justify-content: space-between; border: 0; padding: .15rem .2rem; }
    td::before { content: attr(data-label); color: var(--muted); margin-right: 1rem; }
    .num { text-align: left; }
  }
</style>
</head>
<body>
<h1>mujo fleet <span id="summary" class="muted"></span></h1>
<div id="offline" class="banner" role="alert" hidden></div>
<h2>Gateways</h2>
<div id="gateways-empty" class="empty" hidden>No gateway has reported to this broker yet. Bridge each
room's broker to it (deploy/fleet/mujo-bridge.conf, docs/fleet.md) or point a gateway's
<code>mqtt.url</code> at it.</div>
<table id="gateways"><thead><tr><th>Gateway</th><th>State</th><th>Model</th><th>Providers</th>
<th class="num">Streams</th><th class="num">Drops</th><th class="num">Active</th><th>Rollout</th></tr></thead>
<tbody></tbody></table>
<h2>People</h2>
<div id="subjects-empty" class="empty" hidden>Nobody is being tracked yet.</div>
<table id="subjects"><thead><tr><th>Person</th><th>Room</th><th>Activity</th><th class="num">Confidence</th>
<th>Since</th><th class="num">Reps</th><th>Sensing</th></tr></thead><tbody></tbody></table>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
function cell(row, label, text, cls) {
  const td = document.createElement('td');
  td.dataset.label = label;
  if (cls) td.className = cls;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  row.append(td);
}
function pill(text, cls) {
  const span = document.createElement('span');
  span.className = 'pill ' + cls;
  span.textContent = text;
  return span;
}
function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
}
function gatewayState(g) {
  if (g.online === false) return pill('offline', 'offline');
  if (g.linked === false) return pill('link down', 'unlinked');
  if (g.online === true) return pill('online', 'online');
  return pill('unknown', 'unknown');
}
function render(fleet) {
  const gwBody = $('gateways').tBodies[0];
  gwBody.replaceChildren();
  for (const g of fleet.gateways) {
    const tr = document.createElement('tr');
    tr.dataset.gateway = g.id;
    cell(tr, 'Gateway', g.id);
    cell(tr, 'State', gatewayState(g));
    cell(tr, 'Model', g.model || '—');
    cell(tr, 'Providers', Object.entries(g.providers).map(([m, p]) => m + ': ' + p).join(', ') || '—');
    cell(tr, 'Streams', g.streams + ' / ' + g.devices, 'num');
    cell(tr, 'Drops', String(g.dropped), 'num');
    cell(tr, 'Active', String(g.active), 'num');
    cell(tr, 'Rollout', g.rollout || '—');
    gwBody.append(tr);
  }
  $('gateways-empty').hidden = fleet.gateways.length > 0;
  $('gateways').hidden = fleet.gateways.length === 0;
  const sBody = $('subjects').tBodies[0];
  sBody.replaceChildren();
  for (const s of fleet.subjects) {
    const tr = document.createElement('tr');
    tr.dataset.subject = s.id;
    cell(tr, 'Person', s.id);
    cell(tr, 'Room', s.gateway);
    cell(tr, 'Activity', s.activity ? (s.activityName || s.activity) : 'idle', s.activity ? '' : 'muted');
    cell(tr, 'Confidence', s.activity && s.confidence != null ? Math.round(s.confidence * 100) + ' %' : '', 'num');
    cell(tr, 'Since', s.activity ? ago(s.since) : '');
    cell(tr, 'Reps', s.reps != null ? String(s.reps) : '', 'num');
    cell(tr, 'Sensing', s.modalities.join(' + ') || '—');
    sBody.append(tr);
  }
  $('subjects-empty').hidden = fleet.subjects.length > 0;
  $('subjects').hidden = fleet.subjects.length === 0;
  const online = fleet.gateways.filter((g) => g.online).length;
  $('summary').textContent = '· ' + online + ' of ' + fleet.gateways.length + ' gateways online · ' +
    fleet.subjects.filter((s) => s.activity).length + ' people active';
  showOffline(fleet.broker.connected ? '' : 'The fleet view cannot reach the central broker (' +
    fleet.broker.url + '); what you see is the last known state.');
}
function showOffline(text) {
  $('offline').textContent = text;
  $('offline').hidden = !text;
}
const source = new EventSource('api/fleet/events');
source.addEventListener('fleet', (e) => render(JSON.parse(e.data)));
source.onerror = () => showOffline('The fleet view server is unreachable; retrying…');
source.onopen = () => showOffline('');
</script>
</body>
</html>
`;
