import { defineConfig } from 'vitest/config';

// Unit tests of the console's pure parts (signing, policy checks, chart maths), in Node.
// The browser tests are tests/console.test.mjs, run by run-browser-tests.sh.
export default defineConfig({
  test: { include: ['unit/**/*.test.ts'], environment: 'node' },
});
