import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';
import { createTestApp, listenOnSocket, makeKey, makeUser, useTestDatabase, type TestApp } from './helpers.ts';

// Debian's Chromium, driven by playwright-core (which never downloads a browser of its own).
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`test/graphiql-browser.test.ts skipped: ${CHROMIUM} is missing; install it with \`apt-get install -y chromium\` to run GraphiQL in a real browser.`);
}

const { db } = useTestDatabase();

/** Waits until GraphiQL's result pane holds `expected` (whitespace ignored: the editor wraps long lines); fails with what it holds. */
async function waitForResult(page: Page, expected: string): Promise<void> {
  const pane = page.locator('.graphiql-response');
  const compact = async () => ((await pane.textContent()) ?? '').replace(/\s/g, '');
  const deadline = Date.now() + 15_000;
  while (!(await compact()).includes(expected)) {
    if (Date.now() > deadline) throw new Error(`GraphiQL's result pane never showed ${expected}; it shows: ${await compact()}`);
    await page.waitForTimeout(100);
  }
}

/** Replaces the whole content of a GraphiQL editor the way a user does: click, select all, paste. */
async function pasteInto(page: Page, editor: ReturnType<Page['locator']>, text: string): Promise<void> {
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.evaluate((value) => navigator.clipboard.writeText(value), text);
  await page.keyboard.press('ControlOrMeta+V');
}

describe.skipIf(!hasChromium)('GraphiQL in a real browser', () => {
  let t: TestApp;
  let socket: Awaited<ReturnType<typeof listenOnSocket>>;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    t = createTestApp(db());
    socket = await listenOnSocket(t.app);
    // launch() gives Chromium a new empty profile of its own. The network here is closed: without
    // the background-networking flags Chromium keeps trying to reach Google's hosts.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    page = await context.newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await socket?.close();
    await t?.close();
  });

  it('first load shows the docs with descriptions; a pasted key then runs viewer', async () => {
    const user = await makeUser('graphiql');
    const { secret } = await makeKey(user);
    const statuses: number[] = [];
    page.on('response', (response) => {
      if (new URL(response.url()).pathname === '/graphql' && response.request().method() === 'POST') statuses.push(response.status());
    });

    await page.goto(`${socket.url}/graphql`);
    // The schema is fetched with the template's placeholder header, before anyone pastes a key.
    await page.getByLabel('Show Documentation Explorer').click();
    const docs = page.locator('.graphiql-doc-explorer');
    await docs.getByText('Root Types').waitFor({ timeout: 15_000 });
    await docs.getByText('Query', { exact: true }).click();
    await docs.getByText(schema.getQueryType()!.description!).waitFor();
    expect(await page.getByText('Error fetching schema').count()).toBe(0);
    expect(statuses[0]).toBe(200);

    await pasteInto(page, page.locator('.graphiql-editor-tool .monaco-editor').filter({ hasText: 'Authorization' }), JSON.stringify({ Authorization: `Bearer ${secret}` }));
    await pasteInto(page, page.locator('.graphiql-query-editor .monaco-editor'), '{ viewer { user { email } } }');
    // GraphiQL reads the operation from the editor a moment later: run once its tab has no name.
    await page.locator('.graphiql-tab-active').getByText('<untitled>').waitFor();
    await page.locator('.graphiql-execute-button').click();
    await waitForResult(page, `"email":"${user.email}"`);
    expect(statuses.at(-1)).toBe(200);
  }, 60_000);
});
