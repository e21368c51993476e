import { defineConfig } from 'vitest/config'

/**
 * The Swarm e2e file alone (it makes its own three-node cluster and needs none of the
 * compose stack that the suite's global setup starts):
 * npm run test:swarm (or npx vitest run -c vitest.swarm.config.ts once the images are built)
 */
export default defineConfig({
  test: {
    include: ['test/e2e/14-swarm-cluster.e2e.test.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 900_000,
  },
})
