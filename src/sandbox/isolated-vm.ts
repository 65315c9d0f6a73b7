import { createRequire } from 'node:module';
import { RaindropError, errorCodes } from '../core/index.js';

import type { Ivm } from './ivm-types.js';

/**
 * isolated-vm is a native module tied to one V8: 5.x builds on Node 20, 7.x serves Node
 * 22+/24 with prebuilt binaries. package.json installs both as optional dependencies
 * (npm skips the one whose engines do not match, thanks to engine-strict), and this
 * picks the one for the running Node.
 */
export function isolatedVmPackage(nodeVersion = process.versions.node): string {
  const major = Number(nodeVersion.split('.')[0]);
  return major >= 22 ? 'isolated-vm-node24' : 'isolated-vm-node20';
}

export function loadIsolatedVm(): Ivm {
  const name = isolatedVmPackage();
  const require = createRequire(import.meta.url);
  try {
    return require(name) as Ivm;
  } catch (cause) {
    throw new RaindropError(
      errorCodes.SANDBOX_UNAVAILABLE,
      `the extension sandbox (isolated-vm, package "${name}") does not load on Node ${process.versions.node}: ${(cause as Error).message.split('\n')[0]}. ` +
        'Run "npm ci" with this Node version (npm 11 needs "isolated-vm" in package.json allowScripts), and start node with --no-node-snapshot on Node 20.',
      { cause },
    );
  }
}
