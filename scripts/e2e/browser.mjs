#!/usr/bin/env node
// A person at a browser, for scripts/e2e-browser: set BROWSER to this file
// and mcp-oauth runs it with the authorization URL as its one argument.
// Headless Chromium (driven by playwright-core) opens the URL, signs in on
// whatever login page comes (a password field and the text field before
// it), approves the consent page (a button named approve, allow, continue,
// authorize or accept), and waits for the page that mcp-oauth's loopback
// callback (the URL's redirect_uri) shows. Requests to anything but
// 127.0.0.1 are refused, in the page and in name resolution.
//
// Env: MCP_OAUTH_E2E_MODULES  folder holding node_modules (required)
//      E2E_CHROMIUM           the browser (default /usr/bin/chromium)
//      E2E_LOGIN, E2E_PASSWORD  what to sign in with (default e2e-user / e2e-password)
//      E2E_SCREENSHOT         PNG of the last page (the callback's), if set
//      E2E_SHOTS_DIR          a PNG of every page on the way, if set
//      E2E_DRIVER_LOG         file to append progress to (mcp-oauth discards
//                             a browser's output), default stderr only
//      E2E_DRIVER_TIMEOUT     seconds before it gives up (default 60)
// Exits 0 when the callback page says "Signed in", 1 otherwise, 3 on timeout.
import fs from 'node:fs';
import path from 'node:path';

import { bodyText, launch, log, signIn, where } from './chromium.mjs';

const env = process.env;

let browser;
let finished = false;
async function finish(code, line) {
  if (finished) return;
  finished = true;
  log(line);
  const closing = browser?.close().catch(() => {});
  await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 5000))]);
  process.exit(code);
}

const limit = Number(env.E2E_DRIVER_TIMEOUT ?? 60);
setTimeout(() => finish(3, `fail: timed out after ${limit}s`), limit * 1000);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => finish(4, `fail: stopped by ${signal}`));
}

async function main() {
  log(`pid ${process.pid}`);
  const target = new URL(process.argv[2] ?? '');
  if (!['http:', 'https:'].includes(target.protocol)) throw new Error('not an http(s) URL');
  const redirect = target.searchParams.get('redirect_uri');
  if (!redirect) throw new Error('the authorization URL names no redirect_uri');
  const callback = new URL(redirect);
  const atCallback = (href) => {
    const u = new URL(href);
    return u.origin === callback.origin && u.pathname === callback.pathname;
  };

  let newContext;
  ({ browser, newContext } = await launch());
  const page = await (await newContext()).newPage();
  page.setDefaultTimeout(20_000);
  const shot = async (name) => {
    if (!env.E2E_SHOTS_DIR) return;
    fs.mkdirSync(env.E2E_SHOTS_DIR, { recursive: true });
    await page.screenshot({ path: path.join(env.E2E_SHOTS_DIR, `${name}.png`), fullPage: true });
  };

  log(`open ${where(target.href)}`);
  await page.goto(target.href, { waitUntil: 'load' });
  await signIn(page, {
    arrived: atCallback,
    login: env.E2E_LOGIN || 'e2e-user',
    password: env.E2E_PASSWORD || 'e2e-password',
    shot,
  });

  const heading = ((await page.locator('h1').first().textContent().catch(() => '')) ?? '').trim();
  const text = await bodyText(page, Infinity);
  log(`callback ${where(page.url())}: "${heading}" ${text.slice(0, 200)}`);
  if (env.E2E_SCREENSHOT) {
    await page.screenshot({ path: env.E2E_SCREENSHOT, fullPage: true });
    log(`screenshot ${env.E2E_SCREENSHOT} (${fs.statSync(env.E2E_SCREENSHOT).size} bytes)`);
  }
  if (!/signed in/i.test(text)) throw new Error('the callback page does not say "Signed in"');
}

main().then(
  () => finish(0, 'done ok'),
  (error) => finish(1, `fail: ${String(error?.message ?? error).split('\n')[0]}`),
);
