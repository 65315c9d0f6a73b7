import { describe, expect, it } from 'vitest';
import { isolatedVmPackage, sandboxInstallAdvice } from '../../src/sandbox/isolated-vm.js';

describe('the sandbox native module for each Node', () => {
  it('uses the built-from-source 5.x on Node 20 and the prebuilt 7.x on 24 and 26', () => {
    expect(isolatedVmPackage('20.20.2')).toBe('isolated-vm-node20');
    expect(isolatedVmPackage('24.11.0')).toBe('isolated-vm-node24');
    expect(isolatedVmPackage('26.12.1')).toBe('isolated-vm-node24');
  });

  it('explains why it may be missing: a compiler on 20, an install made with another Node on 24/26', () => {
    const on20 = sandboxInstallAdvice('20.20.2');
    expect(on20).toMatch(/C\+\+ toolchain \(python3, make, g\+\+\) and Node's headers/);
    expect(on20).toMatch(/--no-node-snapshot/);
    for (const version of ['24.11.0', '26.12.1']) {
      const advice = sandboxInstallAdvice(version);
      expect(advice).toMatch(/prebuilt binary, no compiler needed/);
      expect(advice).toMatch(/another Node version/);
      expect(advice).not.toMatch(/g\+\+/);
    }
  });
});
