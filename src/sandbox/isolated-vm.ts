import { createRequire } from 'node:module';
import { RaindropError, errorCodes } from '../core/index.js';

import type { Ivm } from './ivm-types.js';

/**
 * isolated-vm is a native module tied to one V8: 5.x builds on Node 20, 7.x serves Node
 * 22+ (24 and 26 LTS) with prebuilt binaries. package.json installs both as optional dependencies
 * (npm skips the one whose engines do not match, thanks to engine-strict), and this
 * picks the one for the running Node.
 */
export function isolatedVmPackage(nodeVersion = process.versions.node): string {
  const major = Number(nodeVersion.split('.')[0]);
  return major >= 22 ? 'isolated-vm-node24' : 'isolated-vm-node20';
}

/**
 * Why the sandbox's native module may be missing, and what to do, for the running Node.
 * On Node 20 it is built from source at install time; on 22+ a prebuilt binary is used,
 * so a failure there is almost always an install made with another Node major.
 */
export function sandboxInstallAdvice(nodeVersion = process.versions.node): string {
  const name = isolatedVmPackage(nodeVersion);
  const common = `npm 11 installs it only because package.json's allowScripts lists "isolated-vm"; reinstall with this Node: "rm -rf node_modules && npm ci"`;
  if (name === 'isolated-vm-node20') {
    return `On Node 20 the sandbox (isolated-vm 5) is compiled during "npm ci": that needs a C++ toolchain (python3, make, g++) and Node's headers, and fails without them ` +
      `(node-gyp downloads the headers from nodejs.org; with no internet, point npm at local ones, e.g. "npm config set nodedir /usr" when /usr/include/node exists). ` +
      `Node 24 or 26 LTS need no compiler (a prebuilt binary is used). ${common}; on Node 20 start node with --no-node-snapshot (the raindrop command does).`;
  }
  return `On Node ${nodeVersion.split('.')[0]} the sandbox (isolated-vm 7) uses a prebuilt binary, no compiler needed: ` +
    `if it is missing, node_modules was most likely installed with another Node version (Node 20 installs a different package). ${common}.`;
}

export function loadIsolatedVm(): Ivm {
  const name = isolatedVmPackage();
  const require = createRequire(import.meta.url);
  try {
    return require(name) as Ivm;
  } catch (cause) {
    throw new RaindropError(
      errorCodes.SANDBOX_UNAVAILABLE,
      `the extension sandbox (isolated-vm, package "${name}") does not load on Node ${process.versions.node}: ${(cause as Error).message.split('\n')[0]}. ${sandboxInstallAdvice()}`,
      { cause },
    );
  }
}
