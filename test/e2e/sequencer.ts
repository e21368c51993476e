import { BaseSequencer, type TestSpecification } from 'vitest/node'

/** The e2e files share one stack and build on each other: run them in file-name order. */
export default class ByNameSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId))
  }
}
