// check_report_html.js REPORT.html OUT_DIR [NAME [CHART=LABEL|LABEL...]...] - opens an HTML page
// of `crm report` or `crm forecast --format html` in
// Debian's headless chromium (driven over the DevTools protocol with the pinned
// chrome-remote-interface; no network: every request other than the file itself fails the
// check) and checks that every chart rendered: each element with a `data-chart` attribute holds
// a canvas with painted (non-transparent) pixels, and the page logged no console error and threw
// no exception. Writes OUT_DIR/NAME.png (the page; NAME defaults to report) and
// OUT_DIR/chart-CHART.png (each chart). Each CHART=LABEL|... argument requires that chart in the
// page (rendered, as every chart) with each LABEL among the rows it lists in `data-labels` (the
// uplift charts list theirs: `STRATEGY arm A conversion_rate`, ...); CHART alone requires it.
// Exit 0: all charts rendered; 1: a check failed; 77: no chromium (skipped).
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const CDP = require('chrome-remote-interface');

const [html, outDir, pageName = 'report', ...required] = process.argv.slice(2);
if (!html || !outDir) {
  console.error('usage: check_report_html.js REPORT.html OUT_DIR [NAME [CHART=LABEL|LABEL...]...]');
  process.exit(2);
}
const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((c) => {
  try { execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }); return true; } catch { return false; }
});
if (!chromium) {
  console.log('skipped: no chromium');
  process.exit(77);
}
fs.mkdirSync(outDir, { recursive: true });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-chromium-'));
// A process group of its own (detached): the browser's helpers (zygote, renderer) are signalled
// with it, so none of them still writes into the profile when it is removed. Its TMPDIR is the
// profile, so that the directories it makes there (org.chromium.Chromium.*) go with it.
const browser = spawn(chromium, ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-extensions', '--disable-background-networking', '--remote-debugging-port=0',
  `--user-data-dir=${profile}`, '--window-size=1280,900', 'about:blank'],
  { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, TMPDIR: profile } });
let client = null;  // the DevTools connection, closed by stopBrowser()
const browserExited = new Promise((resolve) => {
  if (browser.exitCode !== null || browser.signalCode !== null) resolve();
  browser.on('exit', () => resolve());
  browser.on('error', () => resolve());  // never started
});
const failures = [];
const fail = (m) => failures.push(m);

function devtoolsPort() {
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error('chromium did not start: ' + err)), 30000);
    browser.stderr.on('data', (d) => {
      err += d;
      const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(err);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    browser.on('exit', (code) => reject(new Error(`chromium exited (${code}): ${err}`)));
  });
}

async function main() {
  const port = await devtoolsPort();
  const target = await CDP.New({ port });
  client = await CDP({ port, target });
  const { Page, Runtime, Log, Network, Emulation } = client;
  const url = 'file://' + path.resolve(html);
  Runtime.consoleAPICalled(({ type, args }) => {
    if (type === 'error' || type === 'assert') fail(`console.${type}: ${args.map((a) => a.value ?? a.description).join(' ')}`);
  });
  Runtime.exceptionThrown(({ exceptionDetails: e }) => fail(`exception: ${e.exception?.description ?? e.text}`));
  Log.entryAdded(({ entry }) => { if (entry.level === 'error') fail(`log: ${entry.text} ${entry.url ?? ''}`); });
  Network.requestWillBeSent(({ request }) => { if (request.url !== url && !request.url.startsWith('data:')) fail(`network request: ${request.url}`); });
  await Promise.all([Page.enable(), Runtime.enable(), Log.enable(), Network.enable()]);
  await Emulation.setDeviceMetricsOverride({ width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
  const loaded = Page.loadEventFired();
  await Page.navigate({ url });
  await loaded;
  // ECharts draws in animation frames: wait until every chart says it finished (or 20 s).
  const charts = await Runtime.evaluate({ returnByValue: true, awaitPromise: true, expression: `
    new Promise((resolve) => {
      const t0 = Date.now();
      const poll = () => {
        const els = [...document.querySelectorAll('[data-chart]')];
        const done = els.length > 0 && els.every((e) => e.dataset.rendered === 'true');
        if (done || Date.now() - t0 > 20000) {
          resolve(els.map((e) => {
            const r = e.getBoundingClientRect();
            const canvases = [...e.querySelectorAll('canvas')];
            let painted = 0;
            for (const c of canvases) {
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) painted++;
            }
            return { name: e.dataset.chart, labels: e.dataset.labels ? JSON.parse(e.dataset.labels) : [],
                     rendered: e.dataset.rendered === 'true', canvases: canvases.length,
                     painted, x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height };
          }));
        } else setTimeout(poll, 100);
      };
      poll();
    })` });
  if (charts.exceptionDetails) fail('evaluation: ' + charts.exceptionDetails.text);
  const list = charts.result.value || [];
  if (list.length === 0) fail('no element with data-chart in the page');
  for (const c of list) {
    const ok = c.rendered && c.canvases > 0 && c.painted > 0 && c.width > 0 && c.height > 0;
    console.log(`${ok ? 'ok  ' : 'FAIL'} chart ${c.name}: ${c.canvases} canvas, ${c.painted} painted pixels, ${Math.round(c.width)}x${Math.round(c.height)}`);
    if (!ok) fail(`chart ${c.name} did not render (finished: ${c.rendered}, canvases: ${c.canvases}, painted pixels: ${c.painted})`);
    if (c.width > 0 && c.height > 0) {
      const shot = await Page.captureScreenshot({ format: 'png', captureBeyondViewport: true,
        clip: { x: c.x, y: c.y, width: c.width, height: c.height, scale: 1 } });
      fs.writeFileSync(path.join(outDir, `chart-${c.name}.png`), Buffer.from(shot.data, 'base64'));
    }
  }
  for (const r of required) {
    const [name, labels = ''] = r.split('=');
    const c = list.find((x) => x.name === name);
    if (!c) { fail(`no chart ${name} in the page`); continue; }
    for (const label of labels.split('|').filter((l) => l))
      if (!c.labels.includes(label)) fail(`chart ${name} has no row \`${label}\` (it has: ${c.labels.join(', ')})`);
    if (labels) console.log(`ok   chart ${name} lists ${labels.split('|').join(', ')}`);
  }
  const { contentSize } = await Page.getLayoutMetrics();
  const page = await Page.captureScreenshot({ format: 'png', captureBeyondViewport: true,
    clip: { x: 0, y: 0, width: 1280, height: Math.ceil(contentSize.height), scale: 1 } });
  fs.writeFileSync(path.join(outDir, pageName + '.png'), Buffer.from(page.data, 'base64'));
}

// Signals the browser's process group (the browser alone when the group is gone).
function signalBrowser(signal) {
  try { process.kill(-browser.pid, signal); } catch { try { browser.kill(signal); } catch { /* gone */ } }
}

// Resolves true when the browser exited within ms milliseconds.
function waitForBrowser(ms) {
  let timer;
  return Promise.race([browserExited.then(() => true),
    new Promise((resolve) => { timer = setTimeout(() => resolve(false), ms); })]).finally(() => clearTimeout(timer));
}

// The profile is removed only after the browser exited (asked over DevTools, then SIGTERM after
// 10 s, SIGKILL after 10 s more): removed while chromium still wrote into it, it was left behind
// half-deleted, and /tmp filled with them.
async function stopBrowser() {
  if (browser.pid === undefined) return;
  if (client) {
    try { await Promise.race([client.Browser.close(), waitForBrowser(5000)]); } catch { /* signalled below */ }
    try { await client.close(); } catch { /* the browser is gone */ }
  }
  if (!(await waitForBrowser(10000))) signalBrowser('SIGTERM');
  if (!(await waitForBrowser(10000))) {
    signalBrowser('SIGKILL');
    if (!(await waitForBrowser(5000))) fail(`chromium (pid ${browser.pid}) did not exit after SIGKILL`);
  }
  signalBrowser('SIGKILL');  // helpers of the group that outlived the browser
}

main().catch((e) => fail(String(e && e.stack || e))).finally(async () => {
  await stopBrowser();
  try {
    fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  } catch (e) {
    fail(`cannot remove the browser profile ${profile}: ${e.message}`);
  }
  for (const f of failures) console.log('FAIL: ' + f);
  console.log(failures.length ? `${failures.length} failure(s)` : `ok: every chart rendered, no console error (screenshots in ${outDir})`);
  process.exit(failures.length ? 1 : 0);
});
