/**
 * Debian's Chromium (/usr/bin/chromium) driven by playwright-core, headless, with a fresh
 * profile per launch and nothing of its own on the network (no updates, sync, safe
 * browsing or metrics), so every request it makes is one the page made.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';

export interface TestBrowser {
  browser: BrowserContext;
  close(): Promise<void>;
}

/** A persistent context on a fresh --user-data-dir (removed on close). */
export async function launchBrowser(options: { width?: number; height?: number; dark?: boolean } = {}): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'raindrop-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions', '--metrics-recording-only', '--no-default-browser-check', '--disable-domain-reliability'],
    viewport: { width: options.width ?? 1100, height: options.height ?? 800 },
    colorScheme: options.dark ? 'dark' : 'light',
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export type { Browser };
