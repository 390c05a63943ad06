// test/t/210_console.pl's browser: Debian's Chromium driven by playwright-core.
// node run.mjs '<json>' with {url, role, password, shots (a directory or ""),
// topic, group, service}; prints one JSON object of what the pages showed.
import { chromium } from 'playwright-core';

const o = JSON.parse(process.argv[2]);
const seen = { errors: [] };
const browser = await chromium.launch({
  executablePath: process.env.NAGARE_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(m.text()); });
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  const shot = async (name) => {
    if (o.shots) await page.screenshot({ path: `${o.shots}/console-${name}.png`, fullPage: true });
  };
  const texts = (sel) => page.$$eval(sel, (es) => es.map((e) => e.textContent));
  const column = (table, col) => texts(`#${table} td[data-col="${col}"]`);

  // no session: the pages send to the login form, the API says 401
  await page.goto(`${o.url}/console/`);
  seen.no_session_url = page.url();
  seen.no_session_api = (await page.request.get(`${o.url}/console/api/topics`)).status();

  // a wrong password is refused
  await page.fill('#role', o.role);
  await page.fill('#password', `${o.password}-wrong`);
  await Promise.all([page.waitForURL(/failed/), page.click('button[type=submit]')]);
  seen.wrong_url = page.url();
  seen.wrong_shown = await page.isVisible('#failed');
  await shot('login');

  await page.fill('#role', o.role);
  await page.fill('#password', o.password);
  await Promise.all([page.waitForURL(/\/console\/$/), page.click('button[type=submit]')]);
  seen.cookie = (await page.context().cookies()).find((c) => c.name === 'nagare_console') || null;
  if (seen.cookie) seen.cookie.value = seen.cookie.value.length;

  const open = async (hash, name) => {
    await page.goto(`${o.url}/console/#${hash}`);
    await page.waitForSelector(`#view[data-page="${name}"]`);
    await page.waitForFunction(() => document.getElementById('who').textContent !== '');
  };
  await open('topics', 'topics');
  seen.who = await page.textContent('#who');
  seen.topics = await column('topics', 'topic');
  await shot('topics');

  await open(`topic?topic=${encodeURIComponent(o.topic)}`, 'topic');
  seen.partitions = await column('partitions', 'high_watermark');
  await shot('topic');
  await Promise.all([page.waitForSelector('#view[data-page="messages"]'), page.click('#partitions a')]);
  seen.message_keys = await column('messages', 'k');
  seen.message_values = await column('messages', 'v');
  seen.message_headers = await column('messages', 'headers');
  await shot('messages');

  await open('groups', 'groups');
  seen.groups = await column('groups', 'group_id');
  await shot('groups');
  await open(`group?group=${encodeURIComponent(o.group)}`, 'group');
  seen.lag = await column('lag', 'lag');
  await shot('group');

  await open('tenants', 'tenants');
  seen.tenants = await column('tenants', 'tenant');
  seen.usage_principals = await column('usage', 'principal');
  await shot('tenants');
  await open('clients', 'clients');
  seen.clients = await column('clients', 'principal');
  await shot('clients');
  await open('services', 'services');
  seen.services = await column('services', 'service');
  await shot('services');
  await open(`service?service=${encodeURIComponent(o.service)}`, 'service');
  seen.instances = await column('instances', 'id');
  seen.instance_status = await column('instances', 'status');
  await shot('service');
  await open('graph', 'graph');
  await page.waitForFunction(() => window.nagareGraph !== undefined);
  await page.waitForTimeout(300);
  seen.graph_nodes = await page.evaluate(() => window.nagareGraph.nodes().map((n) => n.id()).sort());
  seen.graph_laid_out = await page.evaluate(() => new Set(window.nagareGraph.nodes().map((n) => `${Math.round(n.position('x'))},${Math.round(n.position('y'))}`)).size);
  await shot('graph');
  await open('slos', 'slos');
  seen.slos = await column('slos', 'name');
  seen.slo_budget = await column('slos', 'error_budget_remaining');
  await shot('slos');

  // the API as the page calls it (the session cookie)
  seen.api_topics = await page.evaluate(async () => (await (await fetch('/console/api/topics', { signal: AbortSignal.timeout(10000) })).json()).rows.map((r) => r.topic));
  seen.api_services = await page.evaluate(async () => (await (await fetch('/console/api/services', { signal: AbortSignal.timeout(10000) })).json()).rows.map((r) => r.service));

  // the asset headers
  const r = await page.request.get(`${o.url}/console/assets/app.js`);
  seen.asset = { status: r.status(), type: r.headers()['content-type'], etag: r.headers().etag, csp: r.headers()['content-security-policy'] };
  seen.asset_304 = (await page.request.get(`${o.url}/console/assets/app.js`, { headers: { 'If-None-Match': r.headers().etag } })).status();

  seen.errors_logged_in = [...seen.errors];

  // logging out: the login form again, and the API says 401
  await Promise.all([page.waitForURL(/\/console\/login/), page.click('#logout button')]);
  seen.logout_url = page.url();
  seen.after_logout_api = await page.evaluate(async () => (await fetch('/console/api/topics', { signal: AbortSignal.timeout(10000) })).status);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
