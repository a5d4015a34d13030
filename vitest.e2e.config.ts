import {defineConfig} from 'vitest/config'

/**
 * The end-to-end suite (test/e2e): real gateways and clients in network
 * namespaces; root on Linux. One file at a time, one fork, generous
 * timeouts (a scenario waits for handshakes, firewall watchdogs and applies).
 * Run with `npm run test:e2e` (it builds first).
 */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    globalSetup: ['test/e2e/global-setup.ts'],
  },
})
