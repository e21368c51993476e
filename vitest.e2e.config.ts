import { defineConfig } from 'vitest/config'
import ByNameSequencer from './test/e2e/sequencer.ts'

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    // One shared stack: files run one after the other, tests in order.
    fileParallelism: false,
    sequence: { sequencer: ByNameSequencer },
    testTimeout: 180_000,
    hookTimeout: 900_000,
  },
})
