// "Teach it your activities" panel of the live page: enroll a class from the next seconds of
// a subject, record and label intervals for the trainer, see the model's classes with their
// example counts, and the model versions (activate, roll back, remove a class). Plain JS, no
// build step; text from the gateway is only ever set with textContent. Changes need the HTTP
// token, typed once in the page's token field.
'use strict';

(() => {
  const REFRESH_MS = 10_000;
  const { $, el, api } = window.mujoPage;

  function show(target, text, isError) {
    const node = $(target);
    node.textContent = text;
    node.classList.toggle('error', Boolean(isError));
  }

  const failure = (err) => `${err.code || 'ERROR'}: ${err.message}`;

  // ---- subjects (for the selects) ------------------------------------------------------

  async function refreshSubjects() {
    try {
      const { subjects } = await api('GET', '/api/subjects');
      const ids = subjects
        .map((s) => s.subject)
        .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      for (const id of ['enroll-subject', 'label-subject']) {
        const select = $(id);
        const current = select.value;
        select.replaceChildren(...ids.map((s) => el('option', '', s)));
        if (ids.includes(current)) select.value = current;
      }
    } catch {
      // the live view shows connection problems; the next refresh tries again
    }
  }

  // ---- classes and versions ------------------------------------------------------------

  function windowsText(windows) {
    if (!windows) return '';
    return Object.entries(windows)
      .map(([m, n]) => `${n} ${m}`)
      .join(' + ');
  }

  async function refreshClasses() {
    let data;
    try {
      data = await api('GET', '/api/model/classes');
    } catch {
      return;
    }
    $('classes-model').textContent = data.model ? `${data.model.name} ${data.model.version}` : '';
    $('classes').replaceChildren(
      ...data.classes.map((c) => {
        const li = el('li', c.enrolled ? 'enrolled' : '');
        li.dataset.class = c.id;
        li.title = c.description;
        const meta = c.enrolled
          ? `${c.enrolled.k} example${c.enrolled.k === 1 ? '' : 's'}${c.enrolled.windows ? ` · ${windowsText(c.enrolled.windows)} windows` : ''}`
          : 'from the model';
        const remove = el('button', 'remove', '×');
        remove.type = 'button';
        remove.title = `Remove ${c.id} (a new model version without it)`;
        remove.addEventListener('click', () => removeClass(c.id));
        li.append(el('span', 'name', c.name), el('span', 'meta', meta), remove);
        return li;
      }),
    );
  }

  async function refreshVersions() {
    let data;
    try {
      data = await api('GET', '/api/model/versions');
    } catch {
      return;
    }
    $('versions').replaceChildren(
      ...[...data.versions].reverse().map((v) => {
        const li = el('li', v.active ? 'active' : '');
        li.dataset.version = v.version;
        li.title = v.dir;
        const label = v.bundled ? `${v.version} (bundled)` : v.version;
        const meta = v.enrolled.length ? `+ ${v.enrolled.join(', ')}` : `${v.classes.length} classes`;
        li.append(el('span', 'name', label), el('span', 'meta', meta));
        if (!v.active) {
          const activate = el('button', 'activate', 'Activate');
          activate.type = 'button';
          activate.addEventListener('click', () =>
            change('POST', '/api/model/activate', { version: v.version }),
          );
          li.append(activate);
        }
        return li;
      }),
    );
  }

  const refreshModel = () => Promise.all([refreshClasses(), refreshVersions()]);

  async function change(method, path, body) {
    show('versions-result', '…');
    try {
      const { model } = await api(method, path, body);
      show('versions-result', `serving ${model.name} ${model.version}`);
    } catch (err) {
      show('versions-result', failure(err), true);
    }
    await refreshModel();
  }

  function removeClass(id) {
    if (!window.confirm(`Remove class ${id}? The current version stays and can be restored.`)) return;
    void change('DELETE', `/api/model/classes/${encodeURIComponent(id)}`);
  }

  $('rollback').addEventListener('click', () => change('POST', '/api/model/rollback'));

  // ---- enroll --------------------------------------------------------------------------

  $('enroll-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const seconds = Number($('enroll-seconds').value) || 10;
    const body = { subject: $('enroll-subject').value, class: $('enroll-class').value.trim(), seconds };
    const name = $('enroll-name').value.trim();
    if (name) body.name = name;
    const button = $('enroll-submit');
    button.disabled = true;
    show('enroll-result', `collecting ${seconds} s of ${body.subject}…`);
    try {
      const result = await api('POST', '/api/model/enroll', body);
      const c = result.classes[0];
      show(
        'enroll-result',
        `${c.id}: ${windowsText(c.windows)} windows → ${result.model.name} ${result.model.version} serving` +
          (result.warnings.length ? ` · ${result.warnings.join(' · ')}` : ''),
      );
    } catch (err) {
      show('enroll-result', failure(err), true);
    } finally {
      button.disabled = false;
    }
    await refreshModel();
  });

  // ---- record and label ----------------------------------------------------------------

  let lastRecording = null;

  async function refreshRecording() {
    try {
      const { recording } = await api('GET', '/api/recording');
      // The last finished recording with labels can be enrolled as it is (every label a class).
      lastRecording = recording.last && recording.last.rows.labels > 0 ? recording.last : null;
      $('rec-enroll').disabled = !lastRecording || !features.enrollment;
      $('rec-last').textContent = lastRecording
        ? `${lastRecording.name}: ${lastRecording.rows.labels} label${lastRecording.rows.labels === 1 ? '' : 's'}`
        : '';
      const open = (recording.openLabels || []).map((l) => `${l.subject}: ${l.activity}`).join(', ');
      $('rec-status').textContent =
        recording.state === 'recording'
          ? `recording${recording.rows ? ` · ${recording.rows.labels} labels` : ''}${open ? ` · open: ${open}` : ''}`
          : recording.state;
    } catch (err) {
      $('rec-status').textContent = err.code === 'HTTP_NOT_SUPPORTED' ? 'recorder disabled' : '';
    }
  }

  async function recordingAction(path, body, done) {
    try {
      const result = await api('POST', path, body);
      show('rec-result', done(result));
    } catch (err) {
      show('rec-result', failure(err), true);
    }
    await refreshRecording();
  }

  $('rec-start').addEventListener('click', () =>
    recordingAction('/api/recording/start', {}, (r) => `recording to ${r.dir}`),
  );
  $('rec-enroll').addEventListener('click', async () => {
    if (!lastRecording) return;
    show('rec-result', `enrolling the labels of ${lastRecording.name}…`);
    try {
      const result = await api('POST', '/api/model/enroll', { recording: lastRecording.dir });
      show(
        'rec-result',
        `${result.classes.map((c) => `${c.id} (${c.k})`).join(', ')} → ${result.model.name} ${result.model.version} serving`,
      );
    } catch (err) {
      show('rec-result', failure(err), true);
    }
    await refreshModel();
  });
  $('rec-stop').addEventListener('click', () => recordingAction('/api/recording/stop', {}, () => 'stopped'));
  $('label-begin').addEventListener('click', () => {
    const subject = $('label-subject').value;
    const activity = $('label-activity').value.trim();
    void recordingAction(
      '/api/recording/label',
      { subject, activity, action: 'begin' },
      () => `${subject}: ${activity} from now`,
    );
  });
  $('label-end').addEventListener('click', () => {
    const subject = $('label-subject').value;
    void recordingAction('/api/recording/label', { subject, action: 'end' }, () => `${subject}: label ended`);
  });

  // Only what this gateway offers (/api/info `features`): no requests to routes that answer 501.
  let features = { enrollment: false, recording: false };

  async function start() {
    try {
      features = (await api('GET', '/api/info')).features || features;
    } catch {
      // an older gateway: no features list, nothing to show
    }
    $('teach').hidden = !features.enrollment && !features.recording;
    for (const id of ['enroll-form', 'classes', 'versions'])
      $(id).closest('.teach-box').hidden = !features.enrollment;
    $('rec-start').closest('.teach-box').hidden = !features.recording;
    const refreshAll = () =>
      Promise.all([
        refreshSubjects(),
        features.enrollment ? refreshModel() : null,
        features.recording ? refreshRecording() : null,
      ]);
    setInterval(refreshAll, REFRESH_MS);
    await refreshAll();
  }
  void start();
})();
