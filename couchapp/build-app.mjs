// @ts-check
/**
 * Builds the web app into dist/couchapp/app/: app.js (Preact + the app, bundled and
 * minified by esbuild, no CDN), ids.js (the document-id module for other front ends),
 * index.html, app.css, frame.css. Fails when the first screen's JavaScript is over its
 * gzipped budget. `raindrop init` pushes this folder as the attachments of _design/rd_app.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** The budget for the first screen: 150 KB of gzipped JavaScript. */
const firstScreenBudgetBytes = 150 * 1024;

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'app');
const out = join(here, '..', 'dist', 'couchapp', 'app');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const common = /** @type {const} */ ({ bundle: true, minify: true, format: 'esm', target: ['chrome100', 'firefox100', 'safari15'], legalComments: 'none', logLevel: 'warning' });
await build({ ...common, entryPoints: [join(src, 'src', 'main.tsx')], outfile: join(out, 'app.js'), jsx: 'automatic', jsxImportSource: 'preact' });
await build({ ...common, entryPoints: [join(src, 'src', 'data', 'ids.ts')], outfile: join(out, 'ids.js'), minify: false });
for (const file of ['index.html', 'app.css', 'frame.css', 'favicon.svg']) await copyFile(join(src, file), join(out, file));

const js = await readFile(join(out, 'app.js'));
const gz = gzipSync(js, { level: 9 }).length;
await writeFile(join(out, 'build.json'), `${JSON.stringify({ app_js_bytes: js.length, app_js_gzip_bytes: gz, budget_gzip_bytes: firstScreenBudgetBytes }, null, 2)}\n`);
if (gz > firstScreenBudgetBytes) {
  console.error(`couchapp: app.js is ${gz} bytes gzipped, over the first-screen budget of ${firstScreenBudgetBytes}; make it smaller`);
  process.exit(1);
}
console.log(`couchapp: app.js ${(js.length / 1024).toFixed(1)} KB, ${(gz / 1024).toFixed(1)} KB gzipped (budget ${firstScreenBudgetBytes / 1024} KB)`);
