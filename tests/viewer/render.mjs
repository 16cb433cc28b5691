// node render.mjs URL OUT.png
// Open URL (the viewer page) in headless Chromium through puppeteer-core, wait for the page's
// window.viewerResult, write the canvas's pixels (RGBA PNG) to OUT.png, print the result as JSON.
// The browser: $DEPTH3D_CHROMIUM, else Debian's chromium-headless-shell.  WebGL through ANGLE on
// SwiftShader (CPU), so it renders the same on machines without a GPU.
import { writeFileSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

const [url, out] = process.argv.slice(2);
const executablePath = process.env.DEPTH3D_CHROMIUM || '/usr/bin/chromium-headless-shell';
const timeout = Number(process.env.DEPTH3D_VIEWER_TIMEOUT_MS || 120000);

let browser;
try {
  browser = await puppeteer.launch({
    executablePath,
    headless: 'shell',
    args: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--no-sandbox',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run'],
    timeout,
  });
} catch (error) {
  // the one outcome the tests may skip on (outside CI): no browser to run
  process.stdout.write(JSON.stringify({ ok: false, launch: true, error: String(error) }) + '\n');
  process.exit(1);
}
let result;
try {
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => logs.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
  await page.goto(url, { waitUntil: 'load', timeout });
  await page.waitForFunction('window.viewerResult !== undefined', { timeout, polling: 100 });
  result = await page.evaluate('window.viewerResult');
  result.logs = logs;
  if (result.ok) {
    const png = await page.evaluate(() => document.querySelector('canvas').toDataURL('image/png'));
    writeFileSync(out, Buffer.from(png.slice(png.indexOf(',') + 1), 'base64'));
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
