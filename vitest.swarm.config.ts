import { defineConfig } from 'vitest/config'

/**
 * The Swarm e2e files alone (each makes its own three-node cluster and needs none of the
 * compose stack that the suite's global setup starts): 14 proves the stack design with a probe
 * app, 15 runs deploy.mts and rollback.mts in stack mode (DEPLOY_TARGET=swarm);
 * npm run test:swarm (or npx vitest run -c vitest.swarm.config.ts once the images are built)
 */
export default defineConfig({
  test: {
    include: ['test/e2e/14-swarm-cluster.e2e.test.ts', 'test/e2e/15-swarm-deploy.e2e.test.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 900_000,
  },
})
