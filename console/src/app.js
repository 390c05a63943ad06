// The console's pages: one view per location hash, each drawn from the JSON
// of /console/api/<name> (the nagare worker's fixed queries, run as the
// logged-in role).  Data goes into the page as text nodes only.
import cytoscape from './cytoscape.esm.min.mjs';

const view = document.getElementById('view');
let afterRender = null;

class ApiError extends Error {}

async function api(name, params = {}) {
  const q = new URLSearchParams(params).toString();
  const r = await fetch(`/console/api/${name}${q ? '?' + q : ''}`, { credentials: 'same-origin' });
  if (r.status === 401) {
    location.href = '/console/login';
    throw new ApiError('not logged in');
  }
  const body = await r.json();
  if (!r.ok) throw new ApiError(`${r.status}: ${body.error}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function fmt(v) {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(fmt).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// A table of rows: columns as [key, heading, how to draw a cell (optional)]
function table(id, rows, columns, truncated) {
  const t = el('table', { id });
  t.append(el('tr', {}, ...columns.map(([, h]) => el('th', { text: h }))));
  for (const r of rows) {
    const tr = el('tr');
    for (const [k, , draw] of columns) {
      const v = r[k];
      const td = el('td', { 'data-col': k });
      if (draw) td.append(draw(v, r));
      else td.textContent = fmt(v);
      if (typeof v === 'number') td.className = 'num';
      tr.append(td);
    }
    t.append(tr);
  }
  const out = el('div', {}, t);
  if (rows.length === 0) out.append(el('p', { class: 'note', text: 'None that this role may see.' }));
  if (truncated) out.append(el('p', { class: 'note', text: 'Only the first rows are shown (the answer was cut).' }));
  return out;
}

function link(text, hash) {
  return el('a', { href: hash, text });
}

// bytes of base64 -> text when UTF-8, else hex
function decode(b64) {
  if (b64 === null || b64 === undefined) return { text: 'null', kind: 'null' };
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), kind: 'text' };
  } catch {
    return { text: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' '), kind: 'hex' };
  }
}

const pages = {
  async topics() {
    const d = await api('topics');
    return [el('h2', { text: 'Topics' }), table('topics', d.rows, [
      ['topic', 'Topic', (v) => link(v, `#topic?topic=${encodeURIComponent(v)}`)],
      ['partitions', 'Partitions'], ['records', 'Records'], ['size_bytes', 'Bytes'],
      ['segments', 'Segments'], ['overrides', 'Settings set'], ['created_by', 'Created by'],
    ], d.truncated)];
  },

  async topic(p) {
    const [d, c] = await Promise.all([api('partitions', { topic: p.topic }), api('config', { topic: p.topic })]);
    const out = [el('h2', { text: `Topic ${p.topic}` }), table('partitions', d.rows, [
      ['partition', 'Partition'], ['log_start_offset', 'Log start'], ['high_watermark', 'High watermark'],
      ['records', 'Records'], ['segments', 'Segments'], ['size_bytes', 'Bytes'],
      ['partition', 'Records', (v, r) => link('browse', `#messages?topic=${encodeURIComponent(p.topic)}&partition=${v}&offset=${r.log_start_offset}`)],
    ], d.truncated)];
    out.push(el('h3', { text: 'Configuration' }));
    out.push(table('config', c.rows, [['key', 'Setting'], ['value', 'Value'], ['set', 'Set on the topic']], c.truncated));
    return out;
  },

  async messages(p) {
    const count = p.count || '20';
    const d = await api('messages', { topic: p.topic, partition: p.partition, offset: p.offset, count });
    const rows = d.rows.map((r) => {
      const k = decode(r.key); const v = decode(r.value);
      return { ...r, k, v };
    });
    const cell = (x, bytes) => el('pre', { class: x.kind, text: x.text + (bytes > 4096 ? ` … (${bytes} bytes)` : '') });
    const out = [el('h2', { text: `Messages of ${p.topic} partition ${p.partition} from offset ${p.offset}` }),
      table('messages', rows, [
        ['offset', 'Offset'], ['timestamp', 'Timestamp'],
        ['k', 'Key', (x, r) => cell(x, r.key_bytes)],
        ['v', 'Value', (x, r) => cell(x, r.value_bytes)],
        ['headers', 'Headers', (h) => el('pre', { text: h.map((x) => `${x.key}: ${decode(x.value).text}`).join('\n') })],
      ], d.truncated)];
    if (rows.length > 0) {
      const next = rows[rows.length - 1].offset + 1;
      out.push(link('next records', `#messages?topic=${encodeURIComponent(p.topic)}&partition=${p.partition}&offset=${next}&count=${count}`));
    }
    out.push(el('p', { class: 'note', text: 'At most 100 records and 64 KiB a page; keys and values cut at 4 KiB; text when UTF-8, hex otherwise.' }));
    return out;
  },

  async groups() {
    const d = await api('groups');
    return [el('h2', { text: 'Consumer groups' }), table('groups', d.rows, [
      ['group_id', 'Group', (v) => link(v, `#group?group=${encodeURIComponent(v)}`)],
      ['state', 'State'], ['protocol', 'Protocol'], ['generation', 'Generation'],
      ['members', 'Members'], ['lag', 'Lag (records)'],
    ], d.truncated)];
  },

  async group(p) {
    const d = await api('lag', { group: p.group });
    return [el('h2', { text: `Consumer group ${p.group}` }), table('lag', d.rows, [
      ['topic', 'Topic'], ['partition', 'Partition'], ['committed_offset', 'Committed'],
      ['high_watermark', 'High watermark'], ['lag', 'Lag (records)'], ['lag_seconds', 'Lag (s)'],
      ['service', 'Service'],
    ], d.truncated)];
  },

  async tenants() {
    const [t, u] = await Promise.all([api('tenants'), api('usage')]);
    return [el('h2', { text: 'Tenants' }), table('tenants', t.rows, [
      ['tenant', 'Tenant'], ['topics', 'Topics'], ['partitions', 'Partitions'],
      ['max_topics', 'Max topics'], ['max_partitions', 'Max partitions'], ['max_bytes', 'Max bytes'],
      ['members', 'Members'], ['admins', 'Admins'],
      ['quotas', 'Quotas', (q) => el('pre', { text: q.map((x) => `${x.key} = ${fmt(x.tenant_limit)}`).join('\n') })],
    ], t.truncated),
    el('h3', { text: 'Live usage' }), table('usage', u.rows, [
      ['tenant', 'Tenant'], ['principal', 'Principal'], ['client_id', 'Client id'], ['source', 'Source'],
      ['requests', 'Requests'], ['bytes_in', 'Bytes in'], ['bytes_out', 'Bytes out'],
      ['records_in', 'Records in'], ['records_out', 'Records out'], ['errors', 'Errors'],
      ['throttle_ms', 'Throttled (ms)'],
    ], u.truncated)];
  },

  async clients() {
    const d = await api('clients');
    return [el('h2', { text: 'Connected clients' }), table('clients', d.rows, [
      ['id', 'Connection'], ['listener', 'Listener'], ['security_protocol', 'Protocol'],
      ['tenant', 'Tenant'], ['principal', 'Principal'], ['client_id', 'Client id'],
      ['software', 'Software'], ['address', 'Address'], ['since', 'Since'], ['in_flight', 'In flight'],
    ], d.truncated)];
  },

  async services() {
    const d = await api('services');
    return [el('h2', { text: 'Services' }), table('services', d.rows, [
      ['service', 'Service', (v) => link(v, `#service?service=${encodeURIComponent(v)}`)],
      ['tenant', 'Owner (tenant)'], ['lifecycle', 'Lifecycle'], ['tier', 'Tier'],
      ['endpoints', 'Endpoints', (e) => el('pre', { text: Object.entries(e || {}).map(([k, x]) => `${k}: ${x.url}`).join('\n') })],
      ['passing', 'Passing'], ['warning', 'Warning'], ['critical', 'Critical'],
    ], d.truncated)];
  },

  async service(p) {
    const d = await api('instances', { service: p.service });
    return [el('h2', { text: `Service ${p.service}: instances` }), table('instances', d.rows, [
      ['id', 'Instance'], ['address', 'Address'], ['port', 'Port'], ['tags', 'Tags'],
      ['status', 'Health', (v) => el('span', { class: v, text: v })], ['output', 'Output'],
      ['last_beat', 'Last beat'], ['ttl_remaining', 'TTL left'],
    ], d.truncated)];
  },

  async graph() {
    const d = await api('graph');
    const g = d.rows[0] || { nodes: [], edges: [] };
    const box = el('div', { id: 'graph-canvas' });
    const out = [el('h2', { text: 'Observed dependencies' }), box,
      el('p', { class: 'note', id: 'graph-count', text: `${g.nodes.length} nodes, ${g.edges.length} edges` })];
    // drawn once the box is in the page (show() calls it): cytoscape measures it
    afterRender = () => {
      const cy = cytoscape({
        container: box,
        elements: [
          ...g.nodes.map((n) => ({ data: { id: n.id, label: n.name, type: n.type } })),
          ...g.edges.map((e, i) => ({ data: { id: `e${i}`, source: e.from, target: e.to, label: e.kind } })),
        ],
        style: [
          { selector: 'node', style: { label: 'data(label)', 'font-size': 11, 'text-valign': 'bottom' } },
          { selector: 'node[type = "service"]', style: { shape: 'round-rectangle', 'background-color': '#3866c2' } },
          { selector: 'node[type = "topic"]', style: { shape: 'ellipse', 'background-color': '#d08a19' } },
          { selector: 'edge', style: { 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', width: 2, label: 'data(label)', 'font-size': 9 } },
        ],
        layout: { name: 'breadthfirst', directed: true, spacingFactor: 1.2 },
      });
      window.nagareGraph = cy;
    };
    return out;
  },

  async slos() {
    const d = await api('slos');
    return [el('h2', { text: 'Service level objectives' }), table('slos', d.rows, [
      ['service', 'Service'], ['name', 'SLO'], ['sli', 'SLI'], ['objective', 'Objective'],
      ['time_window', 'Window'], ['good_events', 'Good'], ['total_events', 'Total'],
      ['sli_value', 'SLI value'], ['met', 'Met'], ['error_budget_remaining', 'Budget left'],
      ['burn_rate_1h', 'Burn rate (1h)'],
    ], d.truncated)];
  },
};

async function show() {
  const [name, query] = (location.hash.slice(1) || 'topics').split('?');
  const params = Object.fromEntries(new URLSearchParams(query || ''));
  const page = pages[name] || pages.topics;
  for (const a of document.querySelectorAll('header nav a')) {
    a.classList.toggle('current', a.getAttribute('href') === `#${name}`);
  }
  view.setAttribute('data-page', 'loading');
  try {
    afterRender = null;
    view.replaceChildren(...await page(params));
    if (afterRender) afterRender();
  } catch (e) {
    view.replaceChildren(el('p', { class: 'error', text: String(e.message || e) }));
  }
  view.setAttribute('data-page', name);
}

api('whoami').then((d) => {
  const w = d.rows[0];
  document.getElementById('who').textContent = `${w.role}${w.platform ? ' (platform)' : ''}`;
}).catch(() => {});
window.addEventListener('hashchange', show);
show();
