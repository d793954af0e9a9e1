// A person using the example web platform (mcp-oauth-web-example), for
// scripts/e2e-browser: two instances of it, A and B, on one shared store,
// both with B's public URL, so that a sign-in begun on A ends on B. In
// headless Chromium (see chromium.mjs):
//   1. A's /login?user=USER, then A's /connect?server=MCP_URL: the
//      authorization server's login and consent pages, the callback on B,
//      and B's / naming USER;
//   2. in the page, on A and then on B: GET /tools?server=MCP_URL lists the
//      server's tools, POST /call?server=MCP_URL&tool=... gets its result;
//   3. in a second browser context (cookies of its own): OTHER signs in on
//      A and never connects: /tools answers 401 not_connected.
// Cookies belong to a host, not to a port: what A sets, B gets.
//
// Usage: node platform.mjs --a URL --b URL --server MCP_URL [--user NAME] [--other NAME]
// Env: as chromium.mjs, and
//      E2E_LOGIN, E2E_PASSWORD  the authorization server's login (default:
//                             the user's name / e2e-password)
//      E2E_SCREENSHOT         PNG of B's / once connected, if set
//      E2E_SHOTS_DIR          a PNG of every page on the way, if set
//      E2E_DRIVER_TIMEOUT     seconds before it gives up (default 60)
// Output: one line per check on stdout, "ok<TAB>name<TAB>detail" or
// "fail<TAB>name<TAB>detail"; no cookie, code or token is ever printed.
// Exits 0 when every check passed, 3 on timeout.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { bodyText, launch, log, signIn, where } from './chromium.mjs';

const env = process.env;
const { values: args } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    server: { type: 'string' },
    user: { type: 'string', default: 'alice' },
    other: { type: 'string', default: 'bob' },
  },
});
if (!args.a || !args.b || !args.server) {
  console.error('usage: platform.mjs --a URL --b URL --server MCP_URL [--user NAME] [--other NAME]');
  process.exit(2);
}
const A = new URL(args.a).origin;
const B = new URL(args.b).origin;

let failures = 0;
const report = (ok, name, detail = '') => {
  if (!ok) failures++;
  process.stdout.write(`${ok ? 'ok' : 'fail'}\t${name}\t${String(detail).replace(/\s+/g, ' ')}\n`);
  log(`${ok ? 'ok' : 'fail'} ${name}`);
};

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
setTimeout(() => {
  report(false, 'driver', `timed out after ${limit}s`);
  finish(3, `fail: timed out after ${limit}s`);
}, limit * 1000);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => finish(4, `fail: stopped by ${signal}`));
}

// fetch() in the page, so that the browser sends its own cookies: the page
// must be on the origin asked (same-origin requests, no CORS).
async function inPage(page, origin, method, pathAndQuery, body) {
  if (new URL(page.url()).origin !== origin) {
    await page.goto(`${origin}/`, { waitUntil: 'load' });
  }
  return page.evaluate(
    async ([method, url, body]) => {
      const init = { method, redirect: 'manual' };
      if (body !== undefined) {
        init.headers = { 'content-type': 'application/json' };
        init.body = body;
      }
      const response = await fetch(url, init);
      const text = await response.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, text: text.slice(0, 2000), json };
    },
    [method, pathAndQuery, body === undefined ? undefined : JSON.stringify(body)],
  );
}

// The texts of a tool result's text content (a CallToolResult), wherever
// the platform put it in its answer.
function texts(value, found = []) {
  if (Array.isArray(value)) value.forEach((v) => texts(v, found));
  else if (value && typeof value === 'object') {
    if (value.type === 'text' && typeof value.text === 'string') found.push(value.text);
    Object.values(value).forEach((v) => texts(v, found));
  }
  return found;
}

const q = encodeURIComponent;
const server = args.server;
const user = args.user;

async function connect(page, shot) {
  log(`open ${A}/login`);
  const login = await page.goto(`${A}/login?user=${q(user)}`, { waitUntil: 'load' });
  if (!login || login.status() >= 400) {
    throw new Error(`${A}/login answered ${login?.status()}: ${await bodyText(page)}`);
  }
  log(`open ${A}/connect`);
  await page.goto(`${A}/connect?server=${q(server)}`, { waitUntil: 'load' });
  if (new URL(page.url()).origin === A) {
    throw new Error(`${where(page.url())} did not send the browser on: ${await bodyText(page)}`);
  }
  // The callback answers with a redirect to B's /, or with an error of its own.
  const atB = (href) => {
    const u = new URL(href);
    return u.origin === B && (u.pathname === '/' || u.pathname === '/oauth/callback');
  };
  await signIn(page, {
    arrived: atB,
    login: env.E2E_LOGIN || user,
    password: env.E2E_PASSWORD || 'e2e-password',
    shot,
  });
  const text = await bodyText(page);
  log(`arrived at ${where(page.url())}: ${text.slice(0, 200)}`);
  if (new URL(page.url()).pathname !== '/') {
    throw new Error(`the callback on B did not lead to /: ${text}`);
  }
  if (env.E2E_SCREENSHOT) {
    await page.screenshot({ path: env.E2E_SCREENSHOT, fullPage: true });
    log(`screenshot ${env.E2E_SCREENSHOT} (${fs.statSync(env.E2E_SCREENSHOT).size} bytes)`);
  }
  if (!text.includes(user)) throw new Error(`B's / does not name ${user}: ${text}`);
}

async function main() {
  log(`pid ${process.pid}`);
  let newContext;
  ({ browser, newContext } = await launch());
  const page = await (await newContext()).newPage();
  page.setDefaultTimeout(20_000);
  const shot = async (name) => {
    if (!env.E2E_SHOTS_DIR) return;
    fs.mkdirSync(env.E2E_SHOTS_DIR, { recursive: true });
    await page.screenshot({ path: path.join(env.E2E_SHOTS_DIR, `${name}.png`), fullPage: true });
  };

  try {
    await connect(page, shot);
    report(true, 'connect', `signed in as ${user} on A, authorized on the authorization server's pages, callback on B, B's / names ${user}`);
  } catch (error) {
    report(false, 'connect', String(error?.message ?? error).split('\n')[0]);
    return;
  }

  const wanted = ['echo', 'add', 'countdown'];
  for (const [name, origin] of [['A', A], ['B', B]]) {
    const tools = await inPage(page, origin, 'GET', `/tools?server=${q(server)}`);
    const names = Array.isArray(tools.json) ? tools.json : [];
    report(
      tools.status === 200 && wanted.every((tool) => names.includes(tool)),
      `tools-on-${name}`,
      `GET /tools on ${name}: ${tools.status} ${tools.text.slice(0, 200)}`,
    );
  }

  const sum = await inPage(page, A, 'POST', `/call?server=${q(server)}&tool=add`, { a: 2, b: 3 });
  report(
    sum.status === 200 && texts(sum.json).includes('5') && sum.json?.isError !== true,
    'call-on-A',
    `POST /call add {a: 2, b: 3} on A: ${sum.status} ${sum.text.slice(0, 200)}`,
  );
  const echo = await inPage(page, B, 'POST', `/call?server=${q(server)}&tool=echo`, { text: 'from B' });
  report(
    echo.status === 200 && texts(echo.json).includes('from B') && echo.json?.isError !== true,
    'call-on-B',
    `POST /call echo {text: "from B"} on B: ${echo.status} ${echo.text.slice(0, 200)}`,
  );

  // Another person, in a browser context of their own, who never connected.
  const other = await (await newContext()).newPage();
  other.setDefaultTimeout(20_000);
  const signedIn = await other.goto(`${A}/login?user=${q(args.other)}`, { waitUntil: 'load' });
  const refused = await inPage(other, A, 'GET', `/tools?server=${q(server)}`);
  report(
    signedIn !== null && signedIn.status() < 400 && refused.status === 401 && refused.json?.error === 'not_connected',
    'not-connected',
    `GET /tools on A as ${args.other}, who never connected: ${refused.status} ${refused.text.slice(0, 200)}`,
  );
}

main().then(
  () => finish(failures === 0 ? 0 : 1, failures === 0 ? 'done ok' : `fail: ${failures} checks failed`),
  (error) => {
    report(false, 'driver', String(error?.message ?? error).split('\n')[0]);
    finish(1, `fail: ${String(error?.message ?? error).split('\n')[0]}`);
  },
);
