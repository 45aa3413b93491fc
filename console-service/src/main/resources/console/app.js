// Turnpike console UI: plain JavaScript against the console's REST API (docs/console.md). No build step.
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem('turnpike.token') || '', user: localStorage.getItem('turnpike.user') || '',
  timer: null, source: null, runId: null, lastSeq: null, cursor: null };

function headers(extra) {
  const h = Object.assign({ 'Accept': 'application/json' }, extra || {});
  if (state.token) h['Authorization'] = 'Bearer ' + state.token;
  if (state.user) h['X-Turnpike-User'] = state.user;
  return h;
}

async function api(path, options) {
  const res = await fetch(path, Object.assign({}, options, { headers: headers(options && options.headers) }));
  if (res.status === 401) {
    $('#token-input').hidden = false;
    throw new Error('this console needs its token (top right)');
  }
  const body = res.headers.get('content-type') && res.headers.get('content-type').includes('json') ? await res.json() : null;
  if (!res.ok) throw new Error((body && body.error) || ('HTTP ' + res.status));
  return body;
}

function say(text) {
  const m = $('#message');
  m.textContent = text;
  m.hidden = false;
  clearTimeout(say.t);
  say.t = setTimeout(() => { m.hidden = true; }, 4000);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.startsWith('data-')) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function time(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function status(s) { return el('span', { class: 'status ' + s, textContent: s }); }

function show(view) {
  for (const v of ['runs', 'approvals', 'run']) $('#view-' + v).hidden = v !== view;
}

function stop() {
  clearInterval(state.timer);
  state.timer = null;
  if (state.source) { state.source.close(); state.source = null; }
}

// ------------------------------------------------------------------------------------------- the run list

function listQuery(after) {
  const q = new URLSearchParams({ limit: '50' });
  if ($('#filter-status').value) q.set('status', $('#filter-status').value);
  if ($('#filter-agent').value.trim()) q.set('agent', $('#filter-agent').value.trim());
  if (after) q.set('after', after);
  return '/api/runs?' + q;
}

async function loadRuns(append) {
  const page = await api(listQuery(append ? state.cursor : null));
  const body = $('#runs tbody');
  if (!append) body.replaceChildren();
  for (const r of page.runs) {
    body.append(el('tr', { 'data-run-id': r.runId, onclick: () => { location.hash = '#/runs/' + encodeURIComponent(r.runId); } },
      el('td', { class: 'mono' }, el('a', { href: '#/runs/' + encodeURIComponent(r.runId), textContent: r.runId })),
      el('td', { textContent: r.agent || '' }),
      el('td', {}, status(r.status)),
      el('td', { textContent: r.turn }),
      el('td', { textContent: r.pendingApprovals ? r.pendingApprovals + ' waiting' : '' }),
      el('td', { textContent: time(r.createdAt) }),
      el('td', { textContent: time(r.updatedAt) }),
      el('td', { class: 'error', textContent: r.error || '' })));
  }
  state.cursor = page.next;
  $('#more').hidden = !page.next;
  $('#runs-empty').hidden = body.children.length > 0;
}

async function loadApprovalCount() {
  try {
    const list = await api('/api/approvals');
    $('#approval-count').textContent = list.length ? String(list.length) : '';
    return list;
  } catch (e) { return []; }
}

async function loadApprovals() {
  const list = await loadApprovalCount();
  const body = $('#approvals tbody');
  body.replaceChildren();
  for (const a of list) {
    body.append(el('tr', { 'data-run-id': a.runId, onclick: () => { location.hash = '#/runs/' + encodeURIComponent(a.runId); } },
      el('td', { class: 'mono', textContent: a.runId }), el('td', { textContent: a.agent || '' }),
      el('td', { textContent: a.tool }), el('td', { class: 'mono', textContent: a.arguments }),
      el('td', { textContent: time(a.since) })));
  }
  $('#approvals-empty').hidden = list.length > 0;
}

// -------------------------------------------------------------------------------------------- one run

async function loadRun(runId) {
  const run = await api('/api/runs/' + encodeURIComponent(runId));
  if (state.runId !== runId) return;
  $('#run-id').textContent = run.runId;
  $('#run-status').className = 'status ' + run.status; // updated in place: the element stays the same
  $('#run-status').textContent = run.status;
  $('#run-meta').textContent = [run.agent && ('agent ' + run.agent), 'turn ' + run.turn, 'created ' + time(run.createdAt),
    'updated ' + time(run.updatedAt)].filter(Boolean).join(' · ');
  if (run.parentRunId) { // a child run (an agent called as a tool): a way back to the run that called it
    $('#run-meta').append(' · child of ', el('a', { href: '#/runs/' + encodeURIComponent(run.parentRunId),
      textContent: run.parentRunId, class: 'mono' }));
  }
  $('#run-error').hidden = !run.error;
  $('#run-error').textContent = run.error || '';
  const output = run.state && run.state.finalOutput && run.state.finalOutput.string;
  $('#run-output').hidden = !output;
  $('#run-output').textContent = output || '';
  const terminal = ['COMPLETED', 'FAILED', 'CANCELLED', 'GUARDRAIL_TRIPPED'].includes(run.status);
  $('#run-cancel').disabled = terminal;
  $('#run-export').hidden = !run.state;
  $('#run-export').href = '/api/runs/' + encodeURIComponent(runId) + '/export' + (state.token ? '?token=' + encodeURIComponent(state.token) : '');
  renderPending(runId, run.state ? run.state.approvals : []);
  loadFiles(runId).catch(() => {}); // secondary: a failure here must not hide the run
}

// The sandbox workspace as of its latest snapshot (a run without a sandbox has none: the box stays hidden).
async function loadFiles(runId) {
  const ws = await api('/api/runs/' + encodeURIComponent(runId) + '/files');
  if (state.runId !== runId) return;
  $('#run-files-box').hidden = ws.files.length === 0;
  $('#run-files-snapshot').textContent = ws.snapshotId ? '(snapshot ' + ws.snapshotId + ', ' + time(ws.createdAt) + ')' : '';
  $('#run-files').replaceChildren(...ws.files.map((f) => el('li', {
    textContent: f.path + (f.type === 'dir' ? '/' : f.type === 'link' ? ' -> ' + f.target : ' (' + f.size + ' bytes)') })));
}

function renderPending(runId, approvals) {
  const box = $('#pending');
  const shown = new Set([...box.querySelectorAll('.approval')].map((d) => d.getAttribute('data-call-id')));
  const wanted = new Set(approvals.map((a) => a.callId));
  if (shown.size === wanted.size && [...wanted].every((c) => shown.has(c))) return; // keep what the user typed
  box.replaceChildren();
  for (const a of approvals) {
    const message = el('input', { type: 'text', placeholder: 'message (the model sees it when rejected)', class: 'message-input' });
    const always = el('input', { type: 'checkbox', class: 'always-input' });
    const send = async (decision, buttons) => {
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await api('/api/runs/' + encodeURIComponent(runId) + '/approvals/' + encodeURIComponent(a.callId), {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ decision, message: message.value || null, always: always.checked }) });
        say((decision === 'approve' ? 'Approved ' : 'Rejected ') + a.tool);
      } catch (e) {
        say(e.message);
        buttons.forEach((b) => { b.disabled = false; });
      }
    };
    const approve = el('button', { class: 'approve', textContent: 'Approve', 'data-call-id': a.callId });
    const reject = el('button', { class: 'reject', textContent: 'Reject', 'data-call-id': a.callId });
    approve.onclick = () => send('approve', [approve, reject]);
    reject.onclick = () => send('reject', [approve, reject]);
    box.append(el('div', { class: 'approval', 'data-call-id': a.callId },
      el('strong', { textContent: 'Waiting for approval: ' + a.tool }), ' ',
      el('span', { class: 'muted', textContent: a.reason ? '(' + a.reason + ')' : '' }),
      el('div', { class: 'args', textContent: a.arguments }),
      message, ' ', el('label', {}, always, ' always (every later ' + a.tool + ' call of this run)'), ' ',
      approve, ' ', reject));
  }
}

function addStep(step) {
  if (state.lastSeq !== null && step.seq <= state.lastSeq) return;
  state.lastSeq = step.seq;
  $('#timeline').append(el('li', { class: step.kind, 'data-seq': String(step.seq), 'data-type': step.type },
    el('span', { class: 'seq', textContent: '#' + step.seq }),
    el('span', { class: 'at', textContent: time(step.at) }),
    el('span', { class: 'kind', textContent: step.kind }),
    el('span', { class: 'summary', textContent: step.summary })));
}

function openRun(runId) {
  state.runId = runId;
  state.lastSeq = null;
  $('#timeline').replaceChildren();
  $('#pending').replaceChildren();
  show('run');
  loadRun(runId).catch((e) => say(e.message));
  const url = '/api/runs/' + encodeURIComponent(runId) + '/stream' + (state.token ? '?token=' + encodeURIComponent(state.token) : '');
  const source = new EventSource(url);
  state.source = source;
  source.addEventListener('step', (ev) => {
    addStep(JSON.parse(ev.data));
    clearTimeout(openRun.t); // a burst of steps: refresh the header once
    openRun.t = setTimeout(() => loadRun(runId).catch(() => {}), 150);
  });
  source.onopen = () => { $('#stream-state').textContent = '● live'; };
  source.onerror = () => { $('#stream-state').textContent = 'reconnecting…'; };
  // The run's status and approvals live in RunState, which no step carries: refresh it now and then too.
  state.timer = setInterval(() => { loadRun(runId).catch(() => {}); loadApprovalCount(); }, 2000);
  loadApprovalCount();
}

// -------------------------------------------------------------------------------------------- routing

function route() {
  stop();
  const hash = location.hash || '#/';
  const m = hash.match(/^#\/runs\/(.+)$/);
  if (m) {
    openRun(decodeURIComponent(m[1]));
  } else if (hash === '#/approvals') {
    show('approvals');
    loadApprovals().catch((e) => say(e.message));
    state.timer = setInterval(() => loadApprovals().catch(() => {}), 2000);
  } else {
    show('runs');
    loadRuns(false).catch((e) => say(e.message));
    loadApprovalCount();
    state.timer = setInterval(() => { loadRuns(false).catch(() => {}); loadApprovalCount(); }, 2000);
  }
}

$('#run-cancel').onclick = async () => {
  if (!confirm('Cancel run ' + state.runId + '?')) return;
  try {
    await api('/api/runs/' + encodeURIComponent(state.runId) + '/cancel', { method: 'POST' });
    say('Cancel sent');
  } catch (e) { say(e.message); }
};
$('#more').onclick = () => loadRuns(true).catch((e) => say(e.message));
$('#filter-status').onchange = () => loadRuns(false).catch((e) => say(e.message));
$('#filter-agent').oninput = () => loadRuns(false).catch((e) => say(e.message));
$('#token-form').onsubmit = (ev) => {
  ev.preventDefault();
  state.token = $('#token-input').value.trim() || state.token;
  state.user = $('#user-input').value.trim();
  sessionStorage.setItem('turnpike.token', state.token);
  localStorage.setItem('turnpike.user', state.user);
  $('#token-input').hidden = true;
  $('#message').hidden = true;
  route();
};
$('#user-input').value = state.user;
window.addEventListener('hashchange', route);
route();
