// The built playground in headless Chromium (Debian's package, driven by playwright-core): loads the shipped model, generates what the Node CLI generates, trains, and draws.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureIo, runCli } from '@engram/cli';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const CHROMIUM = process.env.ENGRAM_CHROMIUM ?? '/usr/bin/chromium';
const app = fileURLToPath(new URL('..', import.meta.url));
const shippedModel = join(app, 'public', 'model');
/** Where the test leaves its screenshot (looked at by people; not compared to a stored image). */
const screenshotPath = join(app, 'test-results', 'playground.png');
const PROMPT = 'Call me Ishmael. Some years ago';
const NEW_TOKENS = 80;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `playground browser test skipped: no Chromium at ${CHROMIUM}. Install Debian's package (apt-get install -y chromium) or set ENGRAM_CHROMIUM to a Chromium binary.`,
  );
}

describe.skipIf(!haveChromium)('the playground in headless Chromium', () => {
  let outDir = '';
  let profile = '';
  let server: PreviewServer;
  let browser: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'engram-playground-build-'));
    profile = mkdtempSync(join(tmpdir(), 'engram-playground-profile-'));
    await build({ root: app, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    server = await preview({ root: app, logLevel: 'warn', build: { outDir }, preview: { port: 0, strictPort: false } });
    // A fresh profile directory (--user-data-dir) for every run.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 1400 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    for (const directory of [outDir, profile]) if (directory) rmSync(directory, { recursive: true, force: true });
  }, 60_000);

  test('loads the shipped model on wasm, generates the Node CLI greedy text, trains a few steps and draws them', async () => {
    const url = server.resolvedUrls?.local[0];
    expect(url, 'the preview server has a local URL').toBeDefined();
    await page.goto(`${url}?backend=wasm`);
    await page.waitForSelector('#backend-status[data-state="ready"]', { timeout: 60_000 });
    expect(await page.getAttribute('#backend-status', 'data-backend')).toBe('wasm');
    expect(await page.getAttribute('#backend-status', 'data-kernels'), 'the fast matmul kernels of @engram/kernels run in the page').toBe('fast');
    await page.waitForSelector('#model-status[data-state="ready"]', { timeout: 60_000 });
    expect(await page.textContent('#model-status')).toMatch(/fifo model, 2 layers/);

    // Greedy generation in the page ...
    await page.fill('#prompt', PROMPT);
    await page.fill('#max-new-tokens', String(NEW_TOKENS));
    await page.selectOption('#strategy', 'greedy');
    await page.click('#generate');
    await page.waitForSelector('#generate-status[data-state="done"], #generate-status[data-state="error"]', { timeout: 120_000 });
    expect(await page.getAttribute('#generate-status', 'data-state'), (await page.textContent('#generate-status')) ?? '').toBe('done');
    const generated = (await page.textContent('#output')) ?? '';

    // ... equals the CLI's greedy output for the same model and prompt (wasm in Node).
    const io = captureIo();
    const code = await runCli(
      ['generate', shippedModel, '--prompt', PROMPT, '--max-new-tokens', String(NEW_TOKENS), '--strategy', 'greedy', '--continuation-only', '--backend', 'wasm'],
      io,
    );
    expect(code, io.errors()).toBe(0);
    const continuation = io.output().replace(/\n$/, '');
    expect(continuation).toHaveLength(NEW_TOKENS);
    expect(generated).toBe(PROMPT + continuation);
    // The memory picture was drawn from the committed segments.
    expect(await page.locator('#generate-memory svg rect').count()).toBeGreaterThan(4);

    // Train a tiny Expire-Span model a few steps on the bundled book.
    await page.selectOption('#train-kind', 'expire-span');
    await page.fill('#train-steps', '10');
    await page.click('#train');
    await page.waitForSelector('#train-status[data-state="done"], #train-status[data-state="error"]', { timeout: 180_000 });
    expect(await page.getAttribute('#train-status', 'data-state'), (await page.textContent('#train-status')) ?? '').toBe('done');
    expect(await page.getAttribute('#train-status', 'data-steps')).toBe('10');
    const firstLoss = Number(await page.getAttribute('#train-status', 'data-first-loss'));
    const lastLoss = Number(await page.getAttribute('#train-status', 'data-last-loss'));
    expect(Number.isFinite(firstLoss) && Number.isFinite(lastLoss)).toBe(true);
    expect(lastLoss).toBeLessThan(firstLoss);
    expect(await page.locator('#loss-chart polyline').count()).toBe(1);
    expect(await page.locator('#train-memory svg rect').count()).toBeGreaterThan(4);

    mkdirSync(dirname(screenshotPath), { recursive: true });
    const png = PNG.sync.read(await page.screenshot({ path: screenshotPath, fullPage: true }));
    // Not blank: many distinct colours (text, the memory pictures' statuses, the loss curve).
    const colours = new Set<number>();
    for (let offset = 0; offset < png.data.length; offset += 4 * 7) {
      colours.add(((png.data[offset] as number) << 16) | ((png.data[offset + 1] as number) << 8) | (png.data[offset + 2] as number));
    }
    expect(colours.size).toBeGreaterThan(20);
    expect(pageErrors).toEqual([]);
  });

  test('generates and trains on webgl too (skipped when this Chromium has no WebGL)', async (context) => {
    const url = server.resolvedUrls?.local[0];
    const webgl = await browser.newPage();
    webgl.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await webgl.goto(`${url}?backend=webgl`);
      await webgl.waitForSelector('#backend-status[data-state="ready"], #backend-status[data-state="error"]', { timeout: 60_000 });
      if ((await webgl.getAttribute('#backend-status', 'data-state')) === 'error') {
        console.warn(`webgl part skipped: ${await webgl.textContent('#backend-status')}`);
        context.skip();
      }
      expect(await webgl.getAttribute('#backend-status', 'data-backend')).toBe('webgl');
      await webgl.waitForSelector('#model-status[data-state="ready"]', { timeout: 60_000 });
      // Software WebGL (no GPU here) compiles a shader per new op shape: keep the work short.
      await webgl.fill('#prompt', 'Call me');
      await webgl.fill('#max-new-tokens', '8');
      await webgl.selectOption('#strategy', 'greedy');
      await webgl.click('#generate', { timeout: 240_000 });
      await webgl.waitForSelector('#generate-status[data-state="done"], #generate-status[data-state="error"]', { timeout: 240_000 });
      expect(await webgl.getAttribute('#generate-status', 'data-state'), (await webgl.textContent('#generate-status')) ?? '').toBe('done');
      expect(((await webgl.textContent('#output')) ?? '').length).toBe('Call me'.length + 8);
      await webgl.selectOption('#train-kind', 'compressive');
      await webgl.fill('#train-steps', '2');
      await webgl.click('#train', { timeout: 240_000 });
      await webgl.waitForSelector('#train-status[data-state="done"], #train-status[data-state="error"]', { timeout: 240_000 });
      expect(await webgl.getAttribute('#train-status', 'data-state'), (await webgl.textContent('#train-status')) ?? '').toBe('done');
      expect(await webgl.locator('#train-memory svg rect').count()).toBeGreaterThan(4);
    } finally {
      await webgl.close();
    }
  });
});
