import { describe, expect, it } from 'vitest'
import { validateEnv } from '../../lib/env/schema.ts'
import { problemsFor, validEnv } from './helpers/valid-env.ts'

describe('DEPLOY_TARGET and REGISTRY (the stack mode, issue 17)', () => {
  it('defaults to compose, with no registry', () => {
    const result = validateEnv(validEnv())
    expect(result.ok && { target: result.env.DEPLOY_TARGET, registry: result.env.REGISTRY }).toEqual({ target: 'compose', registry: undefined })
  })

  it('swarm with a registry is accepted as written', () => {
    const result = validateEnv(validEnv({ DEPLOY_TARGET: 'swarm', REGISTRY: '10.214.0.11:5000/aiko' }))
    expect(result.ok && { target: result.env.DEPLOY_TARGET, registry: result.env.REGISTRY }).toEqual({ target: 'swarm', registry: '10.214.0.11:5000/aiko' })
  })

  it('swarm without REGISTRY: one problem, named REGISTRY, saying what to set', () => {
    expect(problemsFor({ DEPLOY_TARGET: 'swarm' })).toEqual([
      'REGISTRY: REGISTRY is missing while DEPLOY_TARGET=swarm: every node pulls the release images from a registry; set it, e.g. REGISTRY=registre.mon-ecole.fr:5000/aiko (or DEPLOY_TARGET=compose for one server)',
    ])
    // empty is unset, as everywhere in .env
    expect(problemsFor({ DEPLOY_TARGET: 'swarm', REGISTRY: '' })).toHaveLength(1)
  })

  it('a REGISTRY in compose mode is checked but not required', () => {
    expect(problemsFor({ REGISTRY: 'registre.mon-ecole.fr/aiko' })).toEqual([])
  })

  it('an unknown target names the two accepted values', () => {
    expect(problemsFor({ DEPLOY_TARGET: 'kubernetes' })).toEqual([
      'DEPLOY_TARGET: DEPLOY_TARGET must be compose (one server, the default) or swarm (docker stack deploy on a Swarm; REGISTRY then names where the nodes pull the images)',
    ])
  })

  it.each(['registre.mon-ecole.fr', 'registre.mon-ecole.fr:5000', 'registre:5000/aiko', '10.214.0.11:5000/aiko/prod', 'r.example.fr/team_a/aiko-app', '[fd00::1]:5000/aiko'])('accepts %s', (registry) => {
    expect(problemsFor({ DEPLOY_TARGET: 'swarm', REGISTRY: registry })).toEqual([])
  })

  it.each([
    'https://registre.mon-ecole.fr/aiko',
    'registre.mon-ecole.fr/aiko/',
    'registre.mon-ecole.fr/aiko:v1',
    'Registre.Mon-Ecole.fr/aiko',
    'registre.mon-ecole.fr/ai ko',
    'registre.mon-ecole.fr:port/aiko',
    '-registre.fr/aiko',
  ])('refuses %s, naming REGISTRY and the expected form', (registry) => {
    const problems = problemsFor({ DEPLOY_TARGET: 'swarm', REGISTRY: registry })
    expect(problems).toEqual([
      'REGISTRY: REGISTRY must be an image registry and path such as registre.mon-ecole.fr:5000/aiko (host, optional :port and /path; no http://, no tag, no trailing /)',
    ])
  })
})
