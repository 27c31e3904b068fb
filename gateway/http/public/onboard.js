// "Add a wearable" panel of the live page: scan for BLE wearables, see what the radio hears
// (name, family detected, signal), add one and assign it to a person. The same REST routes
// scripts use (POST /api/ble/scan, GET /api/ble/nearby, POST /api/devices,
// PATCH /api/devices/:id, DELETE /api/devices/:id), with the token from the page's token field. Plain JS, no build
// step; text from the gateway is only ever set with textContent.
'use strict';

(() => {
  const SCAN_S = 30;
  const POLL_MS = 1500;
  const PLACEMENTS = ['wrist', 'thigh', 'chest', 'ankle', 'waist', 'upper_arm', 'pocket', 'unknown'];
  const { $, el, api } = window.mujoPage;

  function show(text, isError) {
    const node = $('onboard-result');
    node.textContent = text;
    node.classList.toggle('error', Boolean(isError));
  }

  function failure(err) {
    if (err.code === 'HTTP_UNAUTHORIZED' || err.code === 'HTTP_FORBIDDEN')
      return `${err.code}: type the gateway's token (http.token) in the token field at the top, then try again.`;
    return `${err.code || 'ERROR'}: ${err.message}`;
  }

  /** A readable id for a new device: family and the address's last four hex digits. */
  function suggestedId(row) {
    const tail = row.address
      .replace(/[^0-9a-fA-F]/g, '')
      .slice(-4)
      .toLowerCase();
    return `${(row.family || 'ble').replace(/[^A-Za-z0-9_-]+/g, '-')}-${tail}`;
  }

  let pollTimer = null;
  let scanUntil = 0;
  // What was typed or picked in a wearable's assign form and not sent yet, by device id: a
  // poll redraws the rows every POLL_MS, and a phone's native picker takes the focus out of
  // the row, so keeping the focused row alone is not enough to keep the person's id.
  const assignDrafts = new Map();
  /** The same for the id typed for a wearable not added yet, by its address. */
  const addDrafts = new Map();

  function renderRow(row) {
    const li = el('li', `nearby-row${row.family ? '' : ' unsupported'}${row.device ? ' added' : ''}`);
    li.dataset.address = row.address;
    const head = el('div', 'nearby-head');
    head.append(
      el('span', 'name', row.name || '(no name)'),
      el('span', 'family', row.familyName || row.family || 'not a supported wearable'),
      el('span', 'rssi', `${row.rssi} dBm`),
    );
    li.append(head);
    const actions = el('div', 'row actions');
    if (row.device) {
      li.dataset.device = row.device;
      actions.append(el('span', 'meta', `added as ${row.device}: assign it under Your wearables`));
    } else if (row.family) {
      const id = el('input', 'add-id');
      id.value = addDrafts.get(row.address) ?? suggestedId(row);
      id.addEventListener('input', () => addDrafts.set(row.address, id.value));
      id.pattern = '[A-Za-z0-9_\\-]+';
      id.setAttribute('aria-label', `device id for ${row.name || row.address}`);
      const add = el('button', 'add', 'Add');
      add.type = 'button';
      add.addEventListener('click', async () => {
        try {
          const result = await api('POST', '/api/devices', {
            id: id.value.trim(),
            address: row.address,
            family: row.family,
            placement: 'unknown',
          });
          add.blur();
          addDrafts.delete(row.address);
          show(
            `Added ${result.device}${result.persisted ? ` (saved to ${result.file})` : ` (${result.note})`}. Now assign it to a person.`,
          );
          await refresh();
        } catch (err) {
          show(failure(err), true);
        }
      });
      actions.append(id, add);
    }
    li.append(actions);
    return li;
  }

  /** A configured wearable: who wears it, and the form to (re)assign it. */
  function renderWearable(w) {
    const li = el('li', 'wearable');
    li.dataset.device = w.id;
    const head = el('div', 'nearby-head');
    head.append(
      el('span', 'name', w.id),
      el('span', 'family', w.family),
      el('span', 'who', w.subject ? `${displayName(w.subject)} · ${w.placement}` : 'unassigned'),
    );
    const actions = el('div', 'row actions');
    const subject = el('input', 'assign-subject');
    subject.setAttribute('list', 'subject-ids');
    subject.placeholder = 'person id';
    subject.pattern = '[A-Za-z0-9_\\-]+';
    subject.value = w.subject || '';
    subject.setAttribute('aria-label', `person wearing ${w.id}`);
    const placement = el('select', 'assign-placement');
    placement.setAttribute('aria-label', `where ${w.id} is worn`);
    placement.append(...PLACEMENTS.map((p) => el('option', '', p)));
    placement.value = w.placement;
    const draft = assignDrafts.get(w.id);
    if (draft) {
      subject.value = draft.subject;
      placement.value = draft.placement;
    }
    const keepDraft = () => assignDrafts.set(w.id, { subject: subject.value, placement: placement.value });
    subject.addEventListener('input', keepDraft);
    placement.addEventListener('change', keepDraft);
    const assign = el('button', 'assign', 'Assign');
    assign.type = 'button';
    assign.addEventListener('click', async () => {
      const id = subject.value.trim();
      if (!id) return show('Type the id of the person who wears it.', true);
      try {
        await api('PATCH', `/api/devices/${encodeURIComponent(w.id)}`, {
          subject: id,
          placement: placement.value,
        });
        assignDrafts.delete(w.id);
        show(`${w.id} is now worn by ${displayName(id)} (${placement.value}).`);
        assign.blur(); // the row is redrawn with the new assignment
        await refresh();
      } catch (err) {
        show(failure(err), true);
      }
    });
    // Removing disconnects the wearable and deletes it from the config file: asked first,
    // because a mis-tap in the middle of a session would end someone's stream.
    const remove = el('button', 'remove', 'Remove');
    remove.type = 'button';
    remove.addEventListener('click', async () => {
      const who = w.subject ? ` (worn by ${displayName(w.subject)})` : '';
      if (!window.confirm(`Remove ${w.id}${who}? It is disconnected and deleted from the configuration.`))
        return;
      try {
        const result = await api('DELETE', `/api/devices/${encodeURIComponent(w.id)}`);
        show(`Removed ${w.id}${result.persisted ? ` (saved to ${result.file})` : ` (${result.note})`}.`);
        await refresh();
      } catch (err) {
        show(failure(err), true);
      }
    });
    actions.append(subject, placement, assign, remove);
    li.append(head, actions);
    return li;
  }

  function displayName(id) {
    return (window.mujoSubjectNames && window.mujoSubjectNames[id]) || id;
  }

  /** Replaces a list's rows, keeping the one being edited, so a poll does not wipe what is typed. */
  function replaceKeeping(list, rows, keyOf) {
    const editing = list.contains(document.activeElement) ? document.activeElement.closest('li') : null;
    list.replaceChildren(...rows.map((row) => (editing && keyOf(editing) === keyOf(row) ? editing : row)));
  }

  // Rows being edited are kept as they are, so a poll does not wipe what is being typed.
  function render(report) {
    replaceKeeping($('wearables'), (report.configured || []).map(renderWearable), (li) => li.dataset.device);
    $('wearables-empty').hidden = (report.configured || []).length > 0;
    replaceKeeping(
      $('nearby'),
      report.devices.map(renderRow),
      (li) => `${li.dataset.address}|${li.dataset.device || ''}`,
    );
    $('nearby-empty').hidden = report.devices.length > 0;
    const status = $('scan-status');
    if (report.autoDetect)
      status.textContent = 'auto-detect is on: supported wearables are added by themselves';
    else if (report.scanning && report.until)
      status.textContent = `scanning until ${new Date(report.until).toLocaleTimeString()}`;
    else status.textContent = report.devices.length ? 'heard in the last 30 s' : '';
    if (report.adapterState && report.adapterState !== 'poweredOn')
      status.textContent = `Bluetooth adapter is ${report.adapterState}`;
  }

  let bleOn = false;

  async function refresh() {
    if (!bleOn) return;
    try {
      render(await api('GET', '/api/ble/nearby'));
      $('scan').disabled = false;
    } catch (err) {
      if (err.status === 501) {
        $('onboard').hidden = true;
        return;
      }
      $('nearby').replaceChildren();
      $('nearby-empty').hidden = false;
      $('nearby-empty').textContent =
        err.code === 'BLE_DISABLED'
          ? 'Bluetooth is off on this gateway (ble.enabled: false in the config).'
          : failure(err);
      $('scan').disabled = err.code === 'BLE_DISABLED';
    }
  }

  function poll() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      await refresh();
      if (Date.now() < scanUntil) poll();
    }, POLL_MS);
  }

  async function scan() {
    show('');
    try {
      const status = await api('POST', '/api/ble/scan', { seconds: SCAN_S });
      scanUntil = Date.now() + SCAN_S * 1000 + POLL_MS;
      $('scan-status').textContent = status.until
        ? `scanning until ${new Date(status.until).toLocaleTimeString()}`
        : 'scanning';
      poll();
    } catch (err) {
      show(failure(err), true);
    }
  }

  $('scan').addEventListener('click', scan);
  $('empty-scan').addEventListener('click', () => {
    $('onboard').scrollIntoView({ behavior: 'smooth' });
    void scan();
  });
  // People the page knows, offered when assigning.
  document.addEventListener('mujo:subjects', (e) => {
    $('subject-ids').replaceChildren(...e.detail.map((id) => el('option', '', id)));
  });
  // Only what this gateway offers (/api/info `features`): no requests to routes that refuse.
  (async () => {
    try {
      bleOn = Boolean(((await api('GET', '/api/info')).features || {}).ble);
    } catch {
      bleOn = false;
    }
    if (!bleOn) {
      $('nearby-empty').textContent =
        'Bluetooth is off on this gateway (ble.enabled: false in the config): add phones over MQTT instead.';
      $('scan').disabled = true;
      $('empty-scan').disabled = true;
      return;
    }
    await refresh();
  })();
})();
