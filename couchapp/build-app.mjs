// @ts-check
/**
 * Builds the web app into dist/couchapp/app/: app.<hash>.js (Preact + the app, bundled
 * and minified by esbuild, no CDN), ids.js (the document-id module for other front ends),
 * index.html (linking the hashed names), app.<hash>.css, frame.css. Fails when the first screen's JavaScript is over its
 * gzipped budget. `raindrop init` pushes this folder as the attachments of _design/rd_app.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';

/** The budget for the first screen: 150 KB of gzipped JavaScript. */
const firstScreenBudgetBytes = 150 * 1024;

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'app');
const out = join(here, '..', 'dist', 'couchapp', 'app');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const common = /** @type {const} */ ({ bundle: true, minify: true, format: 'esm', target: ['chrome100', 'firefox100', 'safari15'], legalComments: 'none', logLevel: 'warning' });
const bundled = await build({ ...common, entryPoints: [join(src, 'src', 'main.tsx')], write: false, outfile: join(out, 'app.js'), jsx: 'automatic', jsxImportSource: 'preact' });
await build({ ...common, entryPoints: [join(src, 'src', 'data', 'ids.ts')], outfile: join(out, 'ids.js'), minify: false });
// favicon.svg also under its plain name: index.html links the hashed one.
for (const file of ['frame.css', 'favicon.svg']) await copyFile(join(src, file), join(out, file));

/** `app.<first 10 hex of its SHA-256>.js`: a name that changes with the content, so
 * `raindrop serve` can let browsers keep it for good (`immutable`) and a reload asks for
 * nothing but index.html. The icon too. index.html, ids.js and frame.css keep their names
 * (other front ends and the message frame link to them). */
const hashedName = (base, ext, data) => `${base}.${createHash('sha256').update(data).digest('hex').slice(0, 10)}.${ext}`;
const js = Buffer.from(/** @type {import('esbuild').OutputFile} */ (bundled.outputFiles[0]).contents);
const css = await readFile(join(src, 'app.css'));
const jsName = hashedName('app', 'js', js);
const cssName = hashedName('app', 'css', css);
const icon = await readFile(join(src, 'favicon.svg'));
const iconName = hashedName('favicon', 'svg', icon);
await writeFile(join(out, iconName), icon);
await writeFile(join(out, jsName), js);
await writeFile(join(out, cssName), css);
const html = await readFile(join(src, 'index.html'), 'utf8');
if (!html.includes('href="app.css"') || !html.includes('src="app.js"') || !html.includes('href="favicon.svg"')) throw new Error('couchapp: index.html no longer links app.css, app.js and favicon.svg; update build-app.mjs');
await writeFile(join(out, 'index.html'), html.replace('href="app.css"', `href="${cssName}"`).replace('src="app.js"', `src="${jsName}"`).replace('href="favicon.svg"', `href="${iconName}"`));

const gz = gzipSync(js, { level: 9 }).length;
await writeFile(join(out, 'build.json'), `${JSON.stringify({ app_js: jsName, app_css: cssName, app_js_bytes: js.length, app_js_gzip_bytes: gz, budget_gzip_bytes: firstScreenBudgetBytes }, null, 2)}\n`);
if (gz > firstScreenBudgetBytes) {
  console.error(`couchapp: ${jsName} is ${gz} bytes gzipped, over the first-screen budget of ${firstScreenBudgetBytes}; make it smaller`);
  process.exit(1);
}
console.log(`couchapp: ${jsName} ${(js.length / 1024).toFixed(1)} KB, ${(gz / 1024).toFixed(1)} KB gzipped (budget ${firstScreenBudgetBytes / 1024} KB)`);
