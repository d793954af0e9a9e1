// Headless Chromium for the browser drivers of scripts/e2e-browser
// (browser.mjs, platform.mjs): Debian's browser driven by playwright-core,
// reaching nothing but 127.0.0.1, and a person's way through the pages of
// an authorization server: a login form, then a consent page.
//
// Env: MCP_OAUTH_E2E_MODULES  folder holding node_modules (required)
//      E2E_CHROMIUM           the browser (default /usr/bin/chromium)
//      E2E_DRIVER_LOG         file to append progress to, besides stderr
import fs from 'node:fs';

const started = Date.now();

/** A progress line on stderr and in E2E_DRIVER_LOG, tagged with the driver's PID. */
export const log = (line) => {
  const text = `[browser ${process.pid} +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`;
  process.stderr.write(text);
  if (process.env.E2E_DRIVER_LOG) fs.appendFileSync(process.env.E2E_DRIVER_LOG, text);
};

/** Origin and path only: a query may hold a state, a code or a PKCE challenge. */
export const where = (href) => {
  try {
    const u = new URL(href);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(not a URL)';
  }
};

/** The page's text, whitespace folded, at most `max` characters. */
export const bodyText = async (page, max = 300) =>
  ((await page.locator('body').innerText().catch(() => '')) ?? '').replace(/\s+/g, ' ').trim().slice(0, max);

/**
 * Starts the browser; `newContext()` gives a context (its own cookies)
 * whose requests to anything but 127.0.0.1 are refused.
 */
export async function launch() {
  const { cjs } = await import('./modules.mjs');
  const { chromium } = cjs('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 30_000,
    args: [
      // Loopback only: no name resolves, no proxy is asked.
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
      '--no-proxy-server',
      '--disable-dev-shm-usage',
    ],
  });
  const newContext = async () => {
    const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    await context.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (u.hostname === '127.0.0.1' && ['http:', 'https:'].includes(u.protocol)) return route.continue();
      log(`blocked ${u.origin}${u.pathname}`);
      return route.abort('blockedbyclient');
    });
    return context;
  };
  return { browser, newContext };
}

/**
 * From the page it is on, goes through an authorization server's pages
 * until `arrived(url)`: fills whatever login form comes (a password field
 * and the text field before it) with `login` / `password`, presses a
 * button named approve, allow, continue, authorize or accept on any other
 * page; `shot(name)` is called on each page first. Throws when a page has
 * neither, or after `maxPages` pages.
 */
export async function signIn(page, { arrived, login, password, shot = async () => {}, maxPages = 6 }) {
  for (let step = 1; !arrived(page.url()); step++) {
    if (step > maxPages) throw new Error(`still not there after ${step - 1} pages`);
    const title = await page.title();
    log(`page ${step}: ${where(page.url())} "${title}"`);
    await shot(`page-${step}`);
    const passwordField = page.locator('input[type=password]:visible');
    let action;
    if ((await passwordField.count()) > 0) {
      const loginField = page
        .locator(
          'input:visible:not([type=password]):not([type=hidden]):not([type=submit])' +
            ':not([type=checkbox]):not([type=radio]):not([type=button])',
        )
        .first();
      await loginField.fill(login);
      await passwordField.first().fill(password);
      action = page.locator('form button:visible, form input[type=submit]:visible').first();
      log(`sign in as ${login}`);
    } else {
      action = page.getByRole('button', { name: /approve|allow|continue|authori[sz]e|accept/i }).first();
      if ((await action.count()) === 0) {
        throw new Error(`no login form and no approve button on "${title}": ${await bodyText(page)}`);
      }
      log(`press "${(await action.innerText()).trim() || (await action.getAttribute('value'))}"`);
    }
    const before = page.url();
    await Promise.all([
      page.waitForURL((u) => u.href !== before, { waitUntil: 'load' }),
      action.click(),
    ]);
  }
}
