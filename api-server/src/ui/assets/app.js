// Airlock's web UI: one page that routes itself from the URL and calls the control API with the
// signed-in user's session cookie (state-changing calls also send the session's CSRF token).
// Plain JavaScript, no build step; user data reaches the page only through esc() or
// textContent.
'use strict';

const API = '/execution';
const RANK = { viewer: 0, operator: 1, admin: 2 };
const GRID_PAGE = 25;
let session = null;
// Bumped on every navigation: a poll of a page no longer shown stops itself.
let generation = 0;

const $ = (sel, el = document) => el.querySelector(sel);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));
const enc = encodeURIComponent;
const can = (role) => session && RANK[session.role] >= RANK[role];
const when = (t) => (t ? new Date(t).toLocaleString() : '');
const main = () => $('#main');

class ApiError extends Error {
  constructor(status, reason, message) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session) headers['X-CSRF-Token'] = session.csrf_token;
  const r = await fetch(API + path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (r.ok) return data;
  const d = data && data.detail;
  let message = r.statusText;
  if (typeof d === 'string') message = d;
  else if (Array.isArray(d)) message = d.map((e) => e.msg).join('; ');
  else if (d && d.message) message = d.message;
  const err = new ApiError(r.status, d && d.reason, message);
  if (r.status === 401 && !path.startsWith('/airlock/ui/')) signedOut();
  throw err;
}

// The session ended: sign in again, then come back here.
function signedOut() {
  session = null;
  const next = location.pathname + location.search;
  go('/ui/login?next=' + enc(next), true);
}

function toast(message, bad) {
  const t = $('#toast');
  t.textContent = message;
  t.className = bad ? 'show bad' : 'show';
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ''; }, 4000);
}

function go(url, replace) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', route);
document.addEventListener('DOMContentLoaded', route);

function header() {
  const nav = $('#nav');
  const who = $('#who');
  if (!session) {
    nav.innerHTML = '';
    who.innerHTML = '';
    return;
  }
  const links = [['/ui/', 'DAGs'], ['/ui/cluster', 'Cluster']];
  if (can('admin')) {
    links.push(['/ui/admin/variables', 'Variables'], ['/ui/admin/connections', 'Connections'],
      ['/ui/admin/users', 'Users']);
  }
  nav.innerHTML = links.map(([h, t]) => `<a href="${h}" data-link>${t}</a>`).join('');
  who.innerHTML = `<span id="whoami">${esc(session.username)} (${esc(session.role)})</span>
    <button id="logout" class="link">Sign out</button>`;
  $('#logout').onclick = async () => {
    try { await api('POST', '/airlock/ui/logout'); } catch { /* signed out either way */ }
    session = null;
    go('/ui/login');
  };
}

async function route() {
  const gen = ++generation;
  const path = location.pathname.replace(/\/+$/, '') || '/ui';
  const params = new URLSearchParams(location.search);
  if (path === '/ui/login') {
    session = null;
    header();
    return loginPage(params.get('next'));
  }
  if (!session) {
    try {
      session = await api('GET', '/airlock/ui/session');
    } catch (e) {
      if (e.status === 401) return signedOut();
      return failure(e);
    }
  }
  header();
  const m = (re) => path.match(re);
  let p;
  try {
    if (path === '/ui') return await dagsPage(gen);
    if ((p = m(/^\/ui\/dags\/([^/]+)$/))) return await dagPage(gen, decodeURIComponent(p[1]), params);
    if ((p = m(/^\/ui\/dags\/([^/]+)\/runs\/([^/]+)\/tasks\/([^/]+)$/))) {
      return await taskPage(gen, p.slice(1).map(decodeURIComponent), params);
    }
    if (path === '/ui/cluster') return await clusterPage(gen);
    if (path === '/ui/admin/variables') return await variablesPage();
    if (path === '/ui/admin/connections') return await connectionsPage();
    if (path === '/ui/admin/users') return await usersPage();
    notFound(`There is no page at ${path}.`);
  } catch (e) {
    if (e.status === 404) notFound(e.message);
    else if (e.status !== 401) failure(e);
  }
}

function notFound(message) {
  main().innerHTML = `<section class="notfound"><h1>Not found</h1>
    <p id="notfound-message">${esc(message)}</p>
    <p><a href="/ui/" data-link>See every DAG</a></p></section>`;
}

function failure(e) {
  main().innerHTML = `<section class="notfound"><h1>Something went wrong</h1>
    <p>${esc(e.message)}</p><p><a href="/ui/" data-link>Back to the DAGs</a></p></section>`;
}

// ---- sign in ---------------------------------------------------------------------------

function loginPage(next) {
  main().innerHTML = `<form id="login-form" class="login">
    <h1>Sign in to Airlock</h1>
    <label>User <input id="username" autocomplete="username" required></label>
    <label>Password <input id="password" type="password" autocomplete="current-password" required></label>
    <button id="login-submit" type="submit">Sign in</button>
    <p id="login-error" class="error" role="alert"></p></form>`;
  $('#username').focus();
  $('#login-form').onsubmit = async (e) => {
    e.preventDefault();
    $('#login-error').textContent = '';
    try {
      session = await api('POST', '/airlock/ui/login', {
        username: $('#username').value,
        password: $('#password').value,
      });
      // Only a page of this UI: never another site.
      const target = next && next.startsWith('/ui/') && !next.startsWith('/ui/login') ? next : '/ui/';
      go(target, true);
    } catch (err) {
      $('#login-error').textContent = err.status === 401 ? 'Wrong user name or password.' : err.message;
    }
  };
}

// ---- DAG list --------------------------------------------------------------------------

function squares(runs, dag) {
  return runs.slice().reverse().map((r) => `<a class="sq s-${esc(r.state)}" data-link
    href="/ui/dags/${enc(dag)}?run=${enc(r.run_id)}" title="${esc(r.run_id)}: ${esc(r.state)}"></a>`).join('');
}

async function dagsPage(gen) {
  const { dags } = await api('GET', '/airlock/control/dags');
  const recent = await Promise.all(dags.map((d) => api('GET',
    `/airlock/control/runs?dag_id=${enc(d.dag_id)}&limit=10`).then((r) => r.runs, () => [])));
  if (gen !== generation) return;
  const rows = dags.map((d, i) => `<tr data-dag="${esc(d.dag_id)}"
      data-search="${esc([d.dag_id, d.description, ...(d.tags || [])].join(' ').toLowerCase())}">
    <td>${pauseButton(d)}</td>
    <td><a href="/ui/dags/${enc(d.dag_id)}" data-link class="dag-link">${esc(d.dag_id)}</a>
      <div class="muted">${esc(d.description || '')}</div></td>
    <td>${esc(d.schedule || 'triggered only')}</td>
    <td>${esc(when(d.next_dagrun_create_after))}</td>
    <td>${d.task_count}</td>
    <td class="squares">${squares(recent[i], d.dag_id)}</td></tr>`).join('');
  main().innerHTML = `<h1>DAGs</h1>
    <input id="filter" placeholder="Filter by id, description or tag" autocomplete="off">
    <table class="list"><thead><tr><th></th><th>DAG</th><th>Schedule</th><th>Next run</th>
    <th>Tasks</th><th>Latest runs</th></tr></thead><tbody>${rows ||
    '<tr><td colspan="6" class="muted">No DAGs registered yet.</td></tr>'}</tbody></table>`;
  $('#filter').oninput = (e) => {
    const q = e.target.value.trim().toLowerCase();
    document.querySelectorAll('tr[data-dag]').forEach((tr) => {
      tr.hidden = q !== '' && !tr.dataset.search.includes(q);
    });
  };
  wirePauseButtons(() => dagsPage(generation));
}

function pauseButton(d) {
  const label = d.is_paused ? 'Paused' : 'Active';
  if (!can('operator')) return `<span class="pill ${d.is_paused ? 'off' : 'on'}">${label}</span>`;
  return `<button class="pause-toggle pill ${d.is_paused ? 'off' : 'on'}" data-dag="${esc(d.dag_id)}"
    data-paused="${d.is_paused}" title="${d.is_paused ? 'Unpause' : 'Pause'}">${label}</button>`;
}

function wirePauseButtons(reload) {
  document.querySelectorAll('.pause-toggle').forEach((b) => {
    b.onclick = async () => {
      const paused = b.dataset.paused !== 'true';
      try {
        await api('PATCH', `/airlock/control/dags/${enc(b.dataset.dag)}`, { is_paused: paused });
        toast(`${b.dataset.dag} ${paused ? 'paused' : 'unpaused'}`);
        reload();
      } catch (e) { toast(e.message, true); }
    };
  });
}

// ---- DAG page: grid, graph, trigger, run actions -----------------------------------------

async function dagPage(gen, dagId, params) {
  const offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);
  const { dags } = await api('GET', '/airlock/control/dags');
  const grid = await api('GET', `/airlock/control/dags/${enc(dagId)}/grid?limit=${GRID_PAGE}&offset=${offset}`);
  if (gen !== generation) return;
  const dag = dags.find((d) => d.dag_id === dagId) || { dag_id: dagId, is_paused: false };
  main().innerHTML = `<div class="title"><h1>${esc(dagId)}</h1>${pauseButton(dag)}
      ${can('operator') ? '<button id="trigger">Trigger</button>' : ''}</div>
    <p class="muted">${esc(dag.description || '')}</p>
    <div id="trigger-form" hidden><label>Run configuration (a JSON object)
      <textarea id="conf" rows="5">{}</textarea></label>
      <button id="trigger-submit">Trigger run</button> <button id="trigger-cancel" class="link">Cancel</button>
      <p id="conf-error" class="error" role="alert"></p></div>
    <div id="runs"></div>`;
  wirePauseButtons(() => route());
  wireTrigger(dagId);
  showRuns(gen, dagId, params, offset, grid);
}

// The grid, the selected run and the graph; redrawn alone while runs are active, so the rest of
// the page (a conf being typed) stays as it is.
function showRuns(gen, dagId, params, offset, grid) {
  const runs = grid.runs.slice().reverse(); // oldest left, newest right
  const selected = runs.find((r) => r.run_id === params.get('run')) || runs[runs.length - 1];
  const base = `/ui/dags/${enc(dagId)}`;
  const open = [...document.querySelectorAll('tr[data-parent]')].map((r) => r.dataset.parent);
  $('#runs').innerHTML = `<div class="panes"><section><div class="pager">${pager(grid, offset, base)}</div>
      <div class="gridwrap">${gridTable(grid, runs, selected, dagId)}</div></section>
      <section id="run-panel">${selected ? runPanel(selected) : '<p class="muted">No runs yet.</p>'}</section></div>
    <h2>Graph</h2><div id="graph" class="graphwrap">${graph(grid, selected)}</div>`;
  if (selected) wireRunActions(dagId, selected);
  document.querySelectorAll('.expand').forEach((b) => {
    b.onclick = () => expandMapped(b, grid, runs, dagId);
    if (open.includes(b.dataset.task)) expandMapped(b, grid, runs, dagId);
  });
  if (runs.some((r) => r.state === 'queued' || r.state === 'running')) {
    setTimeout(async () => {
      if (gen !== generation) return;
      try {
        const next = await api('GET', `/airlock/control/dags/${enc(dagId)}/grid?limit=${GRID_PAGE}&offset=${offset}`);
        if (gen === generation) showRuns(gen, dagId, params, offset, next);
      } catch (e) { if (e.status !== 401) toast(e.message, true); }
    }, 2000);
  }
}

function pager(grid, offset, base) {
  if (grid.total_runs === 0) return '';
  const first = offset + 1;
  const last = Math.min(offset + grid.runs.length, grid.total_runs);
  const older = offset + GRID_PAGE < grid.total_runs
    ? `<a href="${base}?offset=${offset + GRID_PAGE}" data-link id="older">Older</a>` : '';
  const newer = offset > 0
    ? `<a href="${base}?offset=${Math.max(0, offset - GRID_PAGE)}" data-link id="newer">Newer</a>` : '';
  return `${older} <span class="muted">runs ${first}–${last} of ${grid.total_runs}</span> ${newer}`;
}

function gridTable(grid, runs, selected, dagId) {
  const base = `/ui/dags/${enc(dagId)}`;
  const cols = runs.map((r) => `<th><a data-link class="runhead s-${esc(r.state)}${r === selected ? ' sel' : ''}"
    href="${base}?run=${enc(r.run_id)}" title="${esc(r.run_id)}: ${esc(r.state)}" data-run="${esc(r.run_id)}"></a></th>`).join('');
  // Built as one string: a 1,000-task × 50-run grid is 50,000 cells.
  const out = [];
  grid.tasks.forEach((t, i) => {
    const depth = t.task_group ? t.task_group.split('.').length : 0;
    const toggle = t.mapped ? `<button class="expand link" data-task="${esc(t.task_id)}" title="Show map indexes">▸</button>` : '';
    out.push(`<tr data-row="${esc(t.task_id)}"><th class="task" data-depth="${Math.min(depth, 4)}">${toggle}${esc(t.task_id)}${t.mapped ? ' <span class="muted">[ ]</span>' : ''}</th>`);
    for (const r of runs) {
      const st = r.states[i] || 'none';
      const m = t.mapped ? r.mapped.find((c) => c.task_id === t.task_id) : null;
      const title = m ? Object.entries(m.counts).map(([k, v]) => `${v} ${k}`).join(', ') : st;
      out.push(`<td><a data-link class="cell s-${st}" data-task="${esc(t.task_id)}" data-run="${esc(r.run_id)}"
        data-state="${st}" title="${esc(t.task_id)} · ${esc(r.run_id)}: ${esc(title)}"
        href="${base}/runs/${enc(r.run_id)}/tasks/${enc(t.task_id)}${t.mapped ? '?map_index=0' : ''}"></a></td>`);
    }
    out.push('</tr>');
  });
  return `<table id="grid" class="grid"><thead><tr><th></th>${cols}</tr></thead><tbody>${out.join('')}</tbody></table>`;
}

// A mapped task's map indexes, one row each, across the page's runs.
async function expandMapped(button, grid, runs, dagId) {
  const taskId = button.dataset.task;
  const row = button.closest('tr');
  const open = row.nextElementSibling && row.nextElementSibling.dataset.parent === taskId;
  if (open) {
    document.querySelectorAll(`tr[data-parent="${CSS.escape(taskId)}"]`).forEach((r) => r.remove());
    button.textContent = '▸';
    return;
  }
  const details = await Promise.all(runs.map((r) => api('GET',
    `/airlock/control/dags/${enc(dagId)}/runs/${enc(r.run_id)}`)));
  const byRun = details.map((d) => new Map(d.task_instances
    .filter((ti) => ti.task_id === taskId && ti.map_index >= 0).map((ti) => [ti.map_index, ti.state])));
  const width = Math.max(0, ...byRun.map((m) => Math.max(-1, ...m.keys()) + 1));
  const base = `/ui/dags/${enc(dagId)}`;
  const rows = [];
  for (let i = 0; i < width; i++) {
    const cells = runs.map((r, j) => {
      const st = byRun[j].has(i) ? byRun[j].get(i) || 'none' : 'absent';
      return st === 'absent' ? '<td></td>' : `<td><a data-link class="cell s-${st}" data-state="${st}"
        title="${esc(taskId)}[${i}] · ${esc(r.run_id)}: ${st}"
        href="${base}/runs/${enc(r.run_id)}/tasks/${enc(taskId)}?map_index=${i}"></a></td>`;
    }).join('');
    rows.push(`<tr data-parent="${esc(taskId)}"><th class="task sub">[${i}]</th>${cells}</tr>`);
  }
  row.insertAdjacentHTML('afterend', rows.join(''));
  button.textContent = '▾';
}

function runPanel(r) {
  const finished = r.state === 'success' || r.state === 'failed';
  const actions = can('operator') ? `<div class="actions">
      <button id="clear-run">Clear run</button>
      <button id="clear-failed">Clear failed tasks</button>
      <button id="mark-run-success">Mark success</button>
      <button id="mark-run-failed">Mark failed</button>
      ${finished ? '' : '<button id="cancel-run" class="danger">Cancel run</button>'}</div>` : '';
  return `<h2>Run <span id="run-id">${esc(r.run_id)}</span></h2>
    <dl><dt>State</dt><dd id="run-state" class="s-text-${esc(r.state)}">${esc(r.state)}</dd>
    <dt>Type</dt><dd>${esc(r.run_type)}</dd>
    <dt>Logical date</dt><dd>${esc(when(r.logical_date))}</dd>
    <dt>Started</dt><dd>${esc(when(r.start_date))}</dd>
    <dt>Ended</dt><dd>${esc(when(r.end_date))}</dd>
    ${r.note ? `<dt>Note</dt><dd>${esc(r.note)}</dd>` : ''}</dl>${actions}`;
}

function wireTrigger(dagId) {
  const b = $('#trigger');
  if (!b) return;
  b.onclick = () => { $('#trigger-form').hidden = false; $('#conf').focus(); };
  $('#trigger-cancel').onclick = () => { $('#trigger-form').hidden = true; };
  $('#trigger-submit').onclick = async () => {
    const error = $('#conf-error');
    error.textContent = '';
    let conf;
    try {
      conf = JSON.parse($('#conf').value || '{}');
    } catch (e) {
      error.textContent = `The configuration is not JSON: ${e.message}`;
      return;
    }
    if (conf === null || typeof conf !== 'object' || Array.isArray(conf)) {
      error.textContent = 'The configuration must be a JSON object, like {"key": "value"}.';
      return;
    }
    try {
      const run = await api('POST', `/airlock/control/dags/${enc(dagId)}/runs`, { conf });
      toast(`Triggered ${run.run_id}`);
      go(`/ui/dags/${enc(dagId)}?run=${enc(run.run_id)}`);
    } catch (e) { error.textContent = e.message; }
  };
}

function wireRunActions(dagId, run) {
  const base = `/airlock/control/dags/${enc(dagId)}/runs/${enc(run.run_id)}`;
  const act = (id, method, path, body, done) => {
    const b = $(id);
    if (!b) return;
    b.onclick = async () => {
      try {
        await api(method, base + path, body);
        toast(done);
        route();
      } catch (e) { toast(e.message, true); }
    };
  };
  act('#clear-run', 'POST', '/clear', {}, 'Run cleared');
  act('#clear-failed', 'POST', '/clear', { only_failed: true }, 'Failed tasks cleared');
  act('#mark-run-success', 'PATCH', '', { state: 'success' }, 'Run marked success');
  act('#mark-run-failed', 'PATCH', '', { state: 'failed' }, 'Run marked failed');
  act('#cancel-run', 'POST', '/cancel', { reason: 'cancelled from the web UI' }, 'Run cancelled');
}

// Tasks in columns by depth (longest path from a root), in grid order within a column.
function graph(grid, run) {
  const index = new Map(grid.tasks.map((t, i) => [t.task_id, i]));
  const depth = new Array(grid.tasks.length).fill(0);
  grid.tasks.forEach((t, i) => { // tasks come after their upstreams
    for (const u of t.upstream) if (index.has(u)) depth[i] = Math.max(depth[i], depth[index.get(u)] + 1);
  });
  const rowOf = [];
  const filled = [];
  depth.forEach((d, i) => { rowOf[i] = filled[d] = (filled[d] ?? -1) + 1; });
  const W = 170, H = 34, BW = 140, BH = 24;
  const x = (i) => 10 + depth[i] * W;
  const y = (i) => 10 + rowOf[i] * H;
  const width = 20 + (Math.max(0, ...depth) + 1) * W;
  const height = 20 + Math.max(1, ...filled.map((n) => n + 1)) * H;
  const edges = [];
  grid.tasks.forEach((t, i) => {
    for (const u of t.upstream) {
      if (!index.has(u)) continue;
      const j = index.get(u);
      edges.push(`<path d="M${x(j) + BW} ${y(j) + BH / 2} C${x(j) + BW + 20} ${y(j) + BH / 2} ${x(i) - 20} ${y(i) + BH / 2} ${x(i)} ${y(i) + BH / 2}"/>`);
    }
  });
  const nodes = grid.tasks.map((t, i) => {
    const st = (run && run.states[i]) || 'none';
    const label = t.task_id.length > 18 ? t.task_id.slice(0, 17) + '…' : t.task_id;
    return `<g class="node s-${st}" data-task="${esc(t.task_id)}" data-state="${st}"><title>${esc(t.task_id)}: ${st}</title>
      <rect x="${x(i)}" y="${y(i)}" width="${BW}" height="${BH}" rx="4"/>
      <text x="${x(i) + 8}" y="${y(i) + 16}">${esc(label)}${t.mapped ? ' [ ]' : ''}</text></g>`;
  }).join('');
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><g class="edges">${edges.join('')}</g>${nodes}</svg>`;
}

// ---- task-instance page ---------------------------------------------------------------------

async function taskPage(gen, [dagId, runId, taskId], params) {
  const mapIndex = parseInt(params.get('map_index') || '-1', 10);
  const q = `map_index=${mapIndex}`;
  const base = `/airlock/control/dags/${enc(dagId)}/runs/${enc(runId)}/tasks/${enc(taskId)}`;
  const [page, xcoms] = await Promise.all([
    api('GET', `${base}/details?${q}`),
    api('GET', `${base}/xcoms?${q}`).catch(() => ({ xcoms: [] })),
  ]);
  if (gen !== generation) return;
  const ti = page.task_instance;
  const shownTry = parseInt(params.get('try') || '0', 10) || (page.tries.length ? page.tries[page.tries.length - 1].try_number : 0);
  const here = `/ui/dags/${enc(dagId)}/runs/${enc(runId)}/tasks/${enc(taskId)}?${q}`;
  const tries = page.tries.map((t) => `<a data-link class="try-link${t.try_number === shownTry ? ' sel' : ''}"
      data-try="${t.try_number}" href="${here}&try=${t.try_number}">Try ${t.try_number}
      <span class="s-text-${esc(t.state || 'none')}">${esc(t.state || 'none')}</span></a>`).join('');
  const deferred = page.deferred_on ? `<dt>Deferred on</dt><dd id="deferred-on">${esc(page.deferred_on.classpath)}
      ${page.deferred_on.triggerer_id ? `in triggerer ${esc(page.deferred_on.triggerer_id)}` : '(not claimed yet)'}
      ${page.deferred_on.timeout ? `until ${esc(when(page.deferred_on.timeout))}` : ''}</dd>` : '';
  const actions = can('operator') ? `<div class="actions">
      <button id="clear-task">Clear</button>
      <label><input type="checkbox" id="clear-downstream"> and downstream</label>
      <button id="mark-success">Mark success</button>
      <button id="mark-failed">Mark failed</button>
      <button id="mark-skipped">Mark skipped</button></div>` : '';
  const xrows = xcoms.xcoms.map((x) => `<tr><td>${esc(x.key)}</td><td>${x.map_index}</td>
      <td><code>${esc(JSON.stringify(x.value))}</code></td></tr>`).join('');
  main().innerHTML = `<p class="crumbs"><a href="/ui/dags/${enc(dagId)}?run=${enc(runId)}" data-link>${esc(dagId)}</a>
      › ${esc(runId)}</p>
    <h1>${esc(taskId)}${mapIndex >= 0 ? ` [${mapIndex}]` : ''}</h1>
    <dl><dt>State</dt><dd id="ti-state" class="s-text-${esc(ti.state || 'none')}">${esc(ti.state || 'none')}</dd>
      <dt>Try</dt><dd id="ti-try">${ti.try_number} of ${ti.max_tries + 1}</dd>
      <dt>Operator</dt><dd>${esc(ti.operator || '')}</dd>
      <dt>Host</dt><dd>${esc(ti.hostname || '')}</dd>
      <dt>Started</dt><dd>${esc(when(ti.start_date))}</dd>
      <dt>Ended</dt><dd>${esc(when(ti.end_date))}</dd>
      ${ti.duration != null ? `<dt>Duration</dt><dd>${ti.duration.toFixed(2)} s</dd>` : ''}
      ${page.reason ? `<dt>Reason</dt><dd>${esc(page.reason)}</dd>` : ''}${deferred}</dl>
    ${actions}
    <h2>Log</h2><div class="tries" id="tries">${tries || '<span class="muted">Not started yet.</span>'}</div>
    <pre id="log" class="log"></pre>
    <h2>XComs</h2><table class="list" id="xcoms"><thead><tr><th>Key</th><th>Map index</th><th>Value</th></tr></thead>
      <tbody>${xrows || '<tr><td colspan="3" class="muted">None.</td></tr>'}</tbody></table>
    <h2>Rendered fields</h2><pre id="rendered">${esc(page.rendered_fields ? JSON.stringify(page.rendered_fields, null, 2) : 'None.')}</pre>`;
  wireTaskActions(dagId, runId, taskId, mapIndex);
  if (shownTry > 0) followLog(gen, `${base}/logs?${q}&try_number=${shownTry}`, ti, shownTry);
  const active = ['queued', 'scheduled', 'running', 'deferred', 'up_for_retry', 'up_for_reschedule', 'restarting'];
  if (!ti.state || active.includes(ti.state)) {
    setTimeout(() => {
      if (gen === generation && !$('#log').dataset.following) route();
    }, 3000);
  }
}

function logLine(raw) {
  try {
    const o = JSON.parse(raw);
    const rest = Object.entries(o)
      .filter(([k]) => !['timestamp', 'level', 'event', 'logger'].includes(k))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
    return `${o.timestamp || ''} ${(o.level || '').toUpperCase().padEnd(7)} ${o.logger ? o.logger + ': ' : ''}${o.event ?? ''}${rest ? ' ' + rest : ''}`;
  } catch { return raw; }
}

// Reads the try's log from the start and, while the try runs, keeps reading what is added.
async function followLog(gen, url, ti, tryNumber) {
  const pre = $('#log');
  let offset = 0;
  pre.dataset.following = 'yes';
  for (;;) {
    if (gen !== generation) return;
    let chunk;
    try {
      chunk = await api('GET', `${url}&offset=${offset}`);
    } catch (e) {
      pre.textContent += `\n(${e.message})`;
      return;
    }
    if (gen !== generation) return;
    if (chunk.content) {
      const lines = chunk.content.split('\n').filter((l) => l).map(logLine).join('\n');
      pre.textContent += (pre.textContent ? '\n' : '') + lines;
      pre.scrollTop = pre.scrollHeight;
    } else if (chunk.missing && !pre.textContent) {
      pre.textContent = chunk.missing;
    }
    offset = chunk.next_offset;
    if (chunk.finished && !chunk.content) {
      delete pre.dataset.following;
      // The try ended while we watched: show its final state.
      if (tryNumber === ti.try_number && pre.dataset.live) route();
      return;
    }
    pre.dataset.live = 'yes';
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function wireTaskActions(dagId, runId, taskId, mapIndex) {
  const base = `/airlock/control/dags/${enc(dagId)}/runs/${enc(runId)}`;
  const clear = $('#clear-task');
  if (!clear) return;
  clear.onclick = async () => {
    try {
      await api('POST', `${base}/clear`, { task_ids: [taskId], downstream: $('#clear-downstream').checked });
      toast(`${taskId} cleared`);
      route();
    } catch (e) { toast(e.message, true); }
  };
  for (const state of ['success', 'failed', 'skipped']) {
    $(`#mark-${state}`).onclick = async () => {
      const body = { task_ids: [taskId], state };
      if (mapIndex >= 0) body.map_index = mapIndex;
      try {
        await api('POST', `${base}/tasks/mark`, body);
        toast(`${taskId} marked ${state}`);
        route();
      } catch (e) { toast(e.message, true); }
    };
  }
}

// ---- cluster and admin pages ----------------------------------------------------------------

async function clusterPage(gen) {
  const [c, { pools }] = await Promise.all([
    api('GET', '/airlock/control/cluster'),
    api('GET', '/airlock/control/pools'),
  ]);
  if (gen !== generation) return;
  const table = (head, rows, empty) => `<table class="list"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead>
    <tbody>${rows.join('') || `<tr><td colspan="${head.length}" class="muted">${empty}</td></tr>`}</tbody></table>`;
  main().innerHTML = `<h1>Cluster</h1>
    <h2>Workers (executors)</h2>${table(['Id', 'Host', 'Holding', 'Slots', 'Last seen'],
    c.executors.map((e) => `<tr><td>${esc(e.id)}</td><td>${esc(e.hostname || '')}</td><td>${e.holding}</td>
      <td>${e.parallelism ?? ''}</td><td>${esc(when(e.latest_heartbeat))}</td></tr>`), 'No live workers.')}
    <h2>Triggerers</h2>${table(['Id', 'Host', 'Triggers', 'Capacity', 'Last seen'],
    c.triggerers.map((t) => `<tr><td>${esc(t.id)}</td><td>${esc(t.hostname || '')}</td><td>${t.triggers}</td>
      <td>${t.capacity ?? ''}</td><td>${esc(when(t.latest_heartbeat))}</td></tr>`), 'No live triggerers.')}
    <h2>Triggers held</h2>${table(['Trigger', 'Class', 'Triggerer', 'Task instance'],
    c.triggers.map((t) => `<tr><td>${t.id}</td><td>${esc(t.classpath)}</td><td>${esc(t.triggerer_id || 'unclaimed')}</td>
      <td><a data-link href="/ui/dags/${enc(t.dag_id)}/runs/${enc(t.run_id)}/tasks/${enc(t.task_id)}?map_index=${t.map_index}">
      ${esc(t.dag_id)} › ${esc(t.run_id)} › ${esc(t.task_id)}${t.map_index >= 0 ? `[${t.map_index}]` : ''}</a></td></tr>`),
    'No task is deferred.')}
    <h2>Pools</h2>${table(['Pool', 'Slots', 'Running', 'Queued', 'Waiting', 'Open'],
    pools.map((p) => `<tr data-pool="${esc(p.name)}"><td>${esc(p.name)}<div class="muted">${esc(p.description || '')}</div></td>
      <td>${p.slots}</td><td>${p.running_slots}</td><td>${p.queued_slots}</td><td>${p.scheduled_slots}</td>
      <td>${p.open_slots}</td></tr>`), 'No pools.')}`;
}

function adminOnly() {
  if (can('admin')) return true;
  main().innerHTML = '<section class="notfound"><h1>Admins only</h1><p>Your role cannot see this page.</p></section>';
  return false;
}

async function variablesPage() {
  if (!adminOnly()) return;
  const { variables } = await api('GET', '/airlock/control/variables?limit=1000');
  main().innerHTML = `<h1>Variables</h1><table class="list"><thead><tr><th>Key</th><th>Value</th><th>Description</th><th></th></tr></thead>
    <tbody>${variables.map((v) => `<tr data-key="${esc(v.key)}"><td>${esc(v.key)}</td><td><code>${esc(v.value ?? '')}</code></td>
      <td>${esc(v.description || '')}</td><td><button class="link delete">Delete</button></td></tr>`).join('')}</tbody></table>
    <h2>Set a Variable</h2><form id="var-form" class="inline">
      <input id="var-key" placeholder="key" required> <input id="var-value" placeholder="value">
      <input id="var-desc" placeholder="description"> <button type="submit">Save</button></form>`;
  $('#var-form').onsubmit = async (e) => {
    e.preventDefault();
    try {
      await api('PUT', `/airlock/control/variables/${enc($('#var-key').value)}`,
        { value: $('#var-value').value, description: $('#var-desc').value || null });
      route();
    } catch (err) { toast(err.message, true); }
  };
  document.querySelectorAll('tr[data-key] .delete').forEach((b) => {
    b.onclick = async () => {
      try {
        await api('DELETE', `/airlock/control/variables/${enc(b.closest('tr').dataset.key)}`);
        route();
      } catch (err) { toast(err.message, true); }
    };
  });
}

async function connectionsPage() {
  if (!adminOnly()) return;
  const { connections } = await api('GET', '/airlock/control/connections');
  main().innerHTML = `<h1>Connections</h1><p class="muted">Passwords are never shown; they can only be replaced.</p>
    <table class="list"><thead><tr><th>Id</th><th>Type</th><th>Host</th><th>Port</th><th>Login</th><th>Password</th><th></th></tr></thead>
    <tbody>${connections.map((c) => `<tr data-conn="${esc(c.conn_id)}"><td>${esc(c.conn_id)}</td><td>${esc(c.conn_type)}</td>
      <td>${esc(c.host || '')}</td><td>${c.port ?? ''}</td><td>${esc(c.login || '')}</td>
      <td>${c.has_password ? 'set' : ''}</td><td><button class="link delete">Delete</button></td></tr>`).join('')}</tbody></table>
    <h2>Set a Connection</h2><form id="conn-form" class="inline">
      <input id="conn-id" placeholder="id" required> <input id="conn-type" placeholder="type" required>
      <input id="conn-host" placeholder="host"> <input id="conn-port" placeholder="port" inputmode="numeric">
      <input id="conn-login" placeholder="login"> <input id="conn-password" type="password" placeholder="password" autocomplete="new-password">
      <button type="submit">Save</button></form>`;
  $('#conn-form').onsubmit = async (e) => {
    e.preventDefault();
    const port = $('#conn-port').value.trim();
    try {
      await api('PUT', `/airlock/control/connections/${enc($('#conn-id').value)}`, {
        conn_type: $('#conn-type').value,
        host: $('#conn-host').value || null,
        port: port ? Number(port) : null,
        login: $('#conn-login').value || null,
        password: $('#conn-password').value || null,
      });
      route();
    } catch (err) { toast(err.message, true); }
  };
  document.querySelectorAll('tr[data-conn] .delete').forEach((b) => {
    b.onclick = async () => {
      try {
        await api('DELETE', `/airlock/control/connections/${enc(b.closest('tr').dataset.conn)}`);
        route();
      } catch (err) { toast(err.message, true); }
    };
  });
}

async function usersPage() {
  if (!adminOnly()) return;
  const { users } = await api('GET', '/airlock/control/users');
  main().innerHTML = `<h1>Users</h1><p class="muted">Create users with <code>airlock users set NAME --role ROLE</code>.</p>
    <table class="list"><thead><tr><th>User</th><th>Role</th><th>Changed</th></tr></thead>
    <tbody>${users.map((u) => `<tr><td>${esc(u.username)}</td><td>${esc(u.role)}</td><td>${esc(when(u.updated_at))}</td></tr>`).join('')}</tbody></table>`;
}
