import { describe, expect, it } from 'vitest'
import { composeContainerIds, composeRun, composeScaleUp, projectName, type ComposeTarget } from '../../lib/compose/commands.ts'

const target: ComposeTarget = { base: ['docker', 'compose'], envFile: '/srv/aiko/.env', projectDir: '/srv/aiko', project: 'aiko', env: { AIKO_RELEASE: 'r2' } }

describe('compose command builders', () => {
  it('finds service containers by compose labels, one-off containers excluded', () => {
    expect(composeContainerIds(target, 'nginx', { runningOnly: true }).argv).toEqual([
      'docker', 'ps', '-q', '--filter', 'label=com.docker.compose.project=aiko', '--filter', 'label=com.docker.compose.oneoff=False', '--filter', 'label=com.docker.compose.service=nginx',
    ])
    expect(composeContainerIds(target).argv).toContain('-a')
  })

  it('derives the project name as compose does', () => {
    expect(projectName(undefined, '/srv/AI-KO.prod')).toBe('ai-koprod')
    expect(projectName('aiko-e2e', '/srv/x')).toBe('aiko-e2e')
  })

  it('starts a new release beside the old one without recreating it', () => {
    const command = composeScaleUp(target, { backend: 2, frontend: 2 })
    expect(command.argv.slice(6)).toEqual(['up', '-d', '--no-deps', '--no-recreate', '--scale', 'backend=2', '--scale', 'frontend=2', 'backend', 'frontend'])
    expect(command.env).toEqual({ AIKO_RELEASE: 'r2' })
  })

  it('passes environment names to a one-off container, never their values', () => {
    const command = composeRun(target, 'backend', ['python3', '-'], { mutates: true, env: ['ADMIN_PASSWORD'] })
    expect(command.argv.slice(6)).toEqual(['run', '--rm', '-T', '-e', 'ADMIN_PASSWORD', '--no-deps', 'backend', 'python3', '-'])
  })
})
