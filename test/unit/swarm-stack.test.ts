import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { YAML } from 'zx'
import { interpolateString, interpolateValues } from '../../lib/swarm/interpolate.ts'
import { byteSize, hostModePorts, renderStack, serviceRoles, type ComposeFile, type StackDeploy, type StackSettings } from '../../lib/swarm/stack.ts'

/** The AI-KO compose file in small: one service of each kind, variables already substituted. */
const AIKO: ComposeFile = {
  services: {
    postgres: {
      image: 'postgres:16.4-alpine',
      restart: 'unless-stopped',
      security_opt: ['no-new-privileges:true'],
      cap_drop: ['ALL'],
      cap_add: ['CHOWN', 'SETUID'],
      environment: { POSTGRES_DB: 'aiko' },
      volumes: ['postgres-data:/var/lib/postgresql/data'],
      shm_size: '128mb',
      mem_limit: '512m',
      stop_grace_period: '60s',
      healthcheck: { test: ['CMD-SHELL', 'pg_isready -q'], interval: '10s' },
    },
    redis: {
      image: 'redis:7.4-alpine',
      restart: 'unless-stopped',
      command: ['redis-server', '/run/secrets/redis.conf'],
      secrets: [{ source: 'redis-config', target: 'redis.conf' }],
      volumes: ['redis-data:/data'],
      read_only: true,
      mem_limit: '256m',
    },
    backend: {
      build: { context: './backend' },
      image: 'aiko-backend:r41',
      restart: 'unless-stopped',
      command: ['gunicorn', 'wsgi:app'],
      networks: { default: { aliases: ['backend-r41'] } },
      volumes: ['uploads:/app/uploads'],
      read_only: true,
      tmpfs: ['/tmp'],
      depends_on: { postgres: { condition: 'service_healthy' } },
      mem_limit: '512m',
      stop_grace_period: '35s',
    },
    'celery-beat': {
      image: 'aiko-backend:r41',
      restart: 'unless-stopped',
      command: ['celery', 'beat'],
      read_only: true,
      tmpfs: ['/tmp'],
      depends_on: { redis: { condition: 'service_healthy' } },
      healthcheck: { disable: true },
    },
    nginx: {
      image: 'nginx:1.27-alpine',
      restart: 'unless-stopped',
      ports: ['0.0.0.0:80:80', '0.0.0.0:443:443', '[::]:80:80', '[::]:443:443'],
      volumes: ['./nginx/nginx.conf:/etc/nginx/nginx.conf:ro', './var/nginx/conf.d:/etc/nginx/conf.d:ro', 'letsencrypt:/etc/letsencrypt:ro'],
      tmpfs: ['/run', '/var/cache/nginx'],
      depends_on: { backend: { condition: 'service_healthy' } },
      mem_limit: '128m',
      stop_signal: 'SIGQUIT',
    },
    certbot: {
      image: 'certbot/certbot:v2.11.0',
      profiles: ['tools'],
      entrypoint: ['certbot'],
      volumes: ['letsencrypt:/etc/letsencrypt'],
    },
    'node-exporter': {
      image: 'prom/node-exporter:v1.8.2',
      restart: 'unless-stopped',
      volumes: ['/proc:/host/proc:ro', '/:/rootfs:ro'],
      mem_limit: '64m',
    },
    grafana: {
      image: 'grafana/grafana:11.2.0',
      profiles: ['monitoring-ui'],
      ports: ['127.0.0.1:3001:3000'],
      volumes: ['grafana-data:/var/lib/grafana'],
    },
  },
  secrets: { 'redis-config': { file: './var/secrets/redis.conf' } },
  volumes: { 'postgres-data': null, 'redis-data': null, uploads: null, letsencrypt: null, 'grafana-data': null },
}

const SETTINGS: StackSettings = {
  registry: 'registry.example.org:5000/aiko',
  release: 'r42',
  projectDir: '/srv/ai-ko',
  labels: { edge: 'edge', data: 'data' },
  appReplicas: 2,
}

const ONE_TASK_STOP_FIRST = {
  mode: 'replicated',
  replicas: 1,
  update_config: { parallelism: 1, order: 'stop-first', failure_action: 'rollback', monitor: '30s' },
  rollback_config: { parallelism: 1, order: 'stop-first', monitor: '30s' },
} as const
const ANY = { condition: 'any', delay: '5s' } as const
const DATA = { constraints: ['node.labels.data == true'] }
const EDGE = { constraints: ['node.labels.edge == true'] }
const appDeploy = (replicas: number, monitor: string): Partial<StackDeploy> => ({
  mode: 'replicated',
  replicas,
  update_config: { parallelism: 1, order: 'start-first', failure_action: 'rollback', monitor, delay: '5s' },
  rollback_config: { parallelism: 1, order: 'start-first', monitor },
})

describe('renderStack', () => {
  it('the AI-KO services by default: data services and the uploads volume on the data node, nginx on the edge in host mode, beat alone, tools and grafana left out', () => {
    expect(renderStack(AIKO, SETTINGS)).toEqual({
      file: {
        version: '3.8',
        services: {
          postgres: {
            image: 'postgres:16.4-alpine',
            cap_drop: ['ALL'],
            cap_add: ['CHOWN', 'SETUID'],
            environment: { POSTGRES_DB: 'aiko' },
            stop_grace_period: '60s',
            healthcheck: { test: ['CMD-SHELL', 'pg_isready -q'], interval: '10s' },
            volumes: ['postgres-data:/var/lib/postgresql/data', { type: 'tmpfs', target: '/dev/shm', tmpfs: { size: 134217728 } }],
            deploy: { endpoint_mode: 'dnsrr', restart_policy: ANY, resources: { limits: { memory: '512m' } }, placement: DATA, ...ONE_TASK_STOP_FIRST },
          },
          redis: {
            image: 'redis:7.4-alpine',
            command: ['redis-server', '/run/secrets/redis.conf'],
            read_only: true,
            volumes: ['redis-data:/data'],
            secrets: [{ source: 'redis-config', target: 'redis.conf' }],
            deploy: { endpoint_mode: 'dnsrr', restart_policy: ANY, resources: { limits: { memory: '256m' } }, placement: DATA, ...ONE_TASK_STOP_FIRST },
          },
          backend: {
            image: 'registry.example.org:5000/aiko/aiko-backend:r42',
            command: ['gunicorn', 'wsgi:app'],
            read_only: true,
            stop_grace_period: '35s',
            volumes: ['uploads:/app/uploads', { type: 'tmpfs', target: '/tmp' }],
            networks: ['default'],
            deploy: { endpoint_mode: 'dnsrr', restart_policy: ANY, resources: { limits: { memory: '512m' } }, placement: DATA, ...appDeploy(2, '30s') },
          },
          'celery-beat': {
            image: 'registry.example.org:5000/aiko/aiko-backend:r42',
            command: ['celery', 'beat'],
            read_only: true,
            healthcheck: { disable: true },
            volumes: [{ type: 'tmpfs', target: '/tmp' }],
            deploy: { endpoint_mode: 'dnsrr', restart_policy: ANY, ...ONE_TASK_STOP_FIRST },
          },
          nginx: {
            image: 'nginx:1.27-alpine',
            stop_signal: 'SIGQUIT',
            volumes: [
              '/srv/ai-ko/nginx/nginx.conf:/etc/nginx/nginx.conf:ro',
              '/srv/ai-ko/var/nginx/conf.d:/etc/nginx/conf.d:ro',
              'letsencrypt:/etc/letsencrypt:ro',
              { type: 'tmpfs', target: '/run' },
              { type: 'tmpfs', target: '/var/cache/nginx' },
            ],
            ports: [
              { target: 80, published: 80, protocol: 'tcp', mode: 'host' },
              { target: 443, published: 443, protocol: 'tcp', mode: 'host' },
            ],
            deploy: { endpoint_mode: 'dnsrr', restart_policy: ANY, resources: { limits: { memory: '128m' } }, placement: EDGE, ...ONE_TASK_STOP_FIRST },
          },
          'node-exporter': {
            image: 'prom/node-exporter:v1.8.2',
            volumes: ['/proc:/host/proc:ro', '/:/rootfs:ro'],
            deploy: {
              endpoint_mode: 'dnsrr',
              restart_policy: ANY,
              resources: { limits: { memory: '64m' } },
              mode: 'global',
              update_config: { parallelism: 1, order: 'stop-first', failure_action: 'rollback', monitor: '30s' },
            },
          },
        },
        networks: { default: { driver: 'overlay', attachable: true } },
        volumes: { 'postgres-data': null, 'redis-data': null, uploads: null, letsencrypt: null },
        secrets: { 'redis-config': { file: '/srv/ai-ko/var/secrets/redis.conf' } },
      },
      omitted: [
        { service: 'certbot', note: 'profile tools: run on demand on its node (docker run), not a service' },
        { service: 'grafana', note: 'profile monitoring-ui not enabled' },
      ],
      notes: [
        { service: 'backend', note: 'network aliases dropped: nginx reaches the service by its name' },
        { service: 'backend', note: 'runs on the data node only: volume uploads is on local storage (settings.sharedVolumes lets it run anywhere)' },
        { service: 'postgres', note: 'security_opt (no-new-privileges) is not applied to Swarm services by Engine 20.10' },
      ],
    })
  })

  it('uploads on shared storage, the monitoring-ui profile, a versioned secret: the backend runs anywhere, grafana is deployed but not published', () => {
    const nfs = { driver: 'local', driver_opts: { type: 'nfs', o: 'addr=10.0.0.5,rw,nfsvers=4', device: ':/srv/uploads' } }
    const { file, omitted, notes } = renderStack(AIKO, { ...SETTINGS, profiles: ['monitoring-ui'], sharedVolumes: { uploads: nfs }, secretVersions: { 'redis-config': '3f9a1c' }, monitor: '10s' })
    expect({ backend: file.services['backend'], grafana: file.services['grafana'], volumes: file.volumes, secrets: file.secrets, omitted, notes }).toEqual({
      backend: {
        image: 'registry.example.org:5000/aiko/aiko-backend:r42',
        command: ['gunicorn', 'wsgi:app'],
        read_only: true,
        stop_grace_period: '35s',
        volumes: ['uploads:/app/uploads', { type: 'tmpfs', target: '/tmp' }],
        networks: ['default'],
        deploy: { endpoint_mode: 'dnsrr', restart_policy: ANY, resources: { limits: { memory: '512m' } }, ...appDeploy(2, '10s') },
      },
      grafana: {
        image: 'grafana/grafana:11.2.0',
        volumes: ['grafana-data:/var/lib/grafana'],
        deploy: {
          endpoint_mode: 'dnsrr',
          restart_policy: ANY,
          placement: DATA,
          mode: 'replicated',
          replicas: 1,
          update_config: { parallelism: 1, order: 'stop-first', failure_action: 'rollback', monitor: '10s' },
          rollback_config: { parallelism: 1, order: 'stop-first', monitor: '10s' },
        },
      },
      volumes: { 'postgres-data': null, 'redis-data': null, uploads: nfs, letsencrypt: null, 'grafana-data': null },
      secrets: { 'redis-config': { file: '/srv/ai-ko/var/secrets/redis.conf', name: 'redis-config-3f9a1c' } },
      omitted: [{ service: 'certbot', note: 'profile tools: run on demand on its node (docker run), not a service' }],
      notes: [
        { service: 'backend', note: 'network aliases dropped: nginx reaches the service by its name' },
        { service: 'grafana', note: 'not published (127.0.0.1:3001:3000): Swarm cannot bind a loopback address, it would publish on every address' },
        { service: 'postgres', note: 'security_opt (no-new-privileges) is not applied to Swarm services by Engine 20.10' },
      ],
    })
  })

  it('a service without an image cannot be deployed (Swarm does not build)', () => {
    const compose: ComposeFile = { services: { web: { build: { context: './web' } } } }
    expect(() => renderStack(compose, SETTINGS)).toThrow('service web: no image (Swarm cannot build: name the image in docker-compose.yml)')
  })

  it('an unknown restart policy is an error, not a guess', () => {
    const compose: ComposeFile = { services: { web: { image: 'web:1', restart: 'sometimes' } } }
    expect(() => renderStack(compose, SETTINGS)).toThrow('restart: "sometimes" is not a compose restart policy')
  })
})

describe('serviceRoles', () => {
  it('one role per deployed service of the AI-KO shape', () => {
    const deployed = ['postgres', 'redis', 'backend', 'celery-beat', 'nginx', 'certbot', 'node-exporter', 'grafana']
    expect(serviceRoles(AIKO, deployed, SETTINGS)).toEqual({
      postgres: 'stateful',
      redis: 'stateful',
      backend: 'app',
      'celery-beat': 'singleton',
      nginx: 'edge',
      certbot: 'edge',
      'node-exporter': 'global',
      grafana: 'stateful',
    })
  })

  it('a host folder makes a service global only when it keeps no data of its own (Alertmanager: stateful)', () => {
    const compose: ComposeFile = {
      services: {
        alertmanager: { image: 'prom/alertmanager:v0.28.1', volumes: ['/srv/ai-ko/var/alertmanager:/etc/alertmanager/config:ro', 'alertmanager-data:/alertmanager'] },
        'node-exporter': { image: 'prom/node-exporter:v1.8.2', volumes: ['/proc:/host/proc:ro', '/srv/ai-ko/var/metrics:/textfile:ro'] },
      },
      volumes: { 'alertmanager-data': null },
    }
    expect(serviceRoles(compose, ['alertmanager', 'node-exporter'], SETTINGS)).toEqual({ alertmanager: 'stateful', 'node-exporter': 'global' })
    expect(serviceRoles(compose, ['alertmanager'], { ...SETTINGS, sharedVolumes: { 'alertmanager-data': { driver: 'local' } } })).toEqual({ alertmanager: 'global' })
  })
})

describe('hostModePorts', () => {
  it("compose's IPv4 and IPv6 bindings become one host-mode port each", () => {
    expect(hostModePorts(['0.0.0.0:80:80', '[::]:80:80', '8443:443/tcp', 53, '53:53/udp'])).toEqual({
      ports: [
        { target: 80, published: 80, protocol: 'tcp', mode: 'host' },
        { target: 443, published: 8443, protocol: 'tcp', mode: 'host' },
        { target: 53, protocol: 'tcp', mode: 'host' },
        { target: 53, published: 53, protocol: 'udp', mode: 'host' },
      ],
      droppedAddresses: [],
      skipped: [],
    })
  })

  it('a specific address is dropped (Swarm binds every address), a loopback-only port is not published', () => {
    expect(hostModePorts(['203.0.113.7:80:80', '127.0.0.1:3001:3000', { target: 9090, published: 9090, host_ip: '::1' }])).toEqual({
      ports: [{ target: 80, published: 80, protocol: 'tcp', mode: 'host' }],
      droppedAddresses: ['203.0.113.7'],
      skipped: ['127.0.0.1:3001:3000', '::1:9090:9090/tcp'],
    })
  })

  it('rejects what is not a port', () => {
    expect(() => hostModePorts(['80-90:80-90'])).toThrow('port "80-90:80-90": not [address:]published:target[/protocol]')
  })
})

describe('byteSize', () => {
  it('reads compose sizes', () => {
    expect(['128mb', '512m', '1g', '64k', '1024', 2048].map(byteSize)).toEqual([134217728, 536870912, 1073741824, 65536, 1024, 2048])
  })
  it('rejects what it cannot read', () => {
    expect(() => byteSize('lots')).toThrow('size "lots": not a number of bytes with k, m or g')
  })
})

/** The repository's docker-compose.yml as the stack mode reads it: parsed, YAML merge keys applied, variables substituted. */
function repositoryCompose(vars: Record<string, string>): ComposeFile {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const raw = YAML.parse(readFileSync(`${root}docker-compose.yml`, 'utf8')) as ComposeFile & { services: Record<string, Record<string, unknown>> }
  const services = Object.fromEntries(
    Object.entries(raw.services).map(([name, service]) => {
      const { '<<': base, ...own } = service
      return [name, { ...(typeof base === 'object' && base !== null ? base : {}), ...own }]
    }),
  )
  const { value, unset } = interpolateValues<ComposeFile>({ ...raw, services }, vars)
  expect(unset).toEqual([])
  return value
}

describe("renderStack on the repository's docker-compose.yml", () => {
  const VARS = {
    AIKO_RELEASE: 'r42', AIKO_VAR_DIR: '/srv/ai-ko/var', POSTGRES_USER: 'aiko', POSTGRES_PASSWORD: 'pw', POSTGRES_DB: 'aiko',
    REDIS_PASSWORD: 'rpw', SECRET_KEY: 'sk', JWT_SECRET_KEY: 'jk', GRAFANA_ADMIN_USER: 'admin', GRAFANA_ADMIN_PASSWORD: 'gpw',
  }

  it('every service: image, mode and replicas, update order, placement, and only keys Swarm honours', () => {
    const { file, omitted, notes } = renderStack(repositoryCompose(VARS), { ...SETTINGS, registry: 'r.example:5000' })
    const summary = Object.fromEntries(
      Object.entries(file.services).map(([name, s]) => [
        name,
        [
          s.image,
          `${s.deploy.mode ?? ''}${s.deploy.replicas === undefined ? '' : ` x${s.deploy.replicas}`}`,
          s.deploy.update_config?.order,
          (s.deploy.placement?.constraints ?? []).join(',') || 'anywhere',
          Object.keys(s).filter((k) => k !== 'image' && k !== 'deploy').sort().join(' '),
        ].join(' | '),
      ]),
    )
    expect({ summary, omitted, notes, volumes: file.volumes, secrets: file.secrets, postgresHealth: file.services['postgres']?.healthcheck, nginxPorts: file.services['nginx']?.ports }).toEqual({
      summary: {
        postgres: 'postgres:16.4-alpine | replicated x1 | stop-first | node.labels.data == true | cap_add cap_drop environment healthcheck logging stop_grace_period volumes',
        redis: 'redis:7.4-alpine | replicated x1 | stop-first | node.labels.data == true | cap_add cap_drop command environment healthcheck logging read_only secrets volumes',
        backend: 'r.example:5000/aiko-backend:r42 | replicated x2 | start-first | node.labels.data == true | cap_drop command environment healthcheck logging networks read_only stop_grace_period volumes',
        'celery-worker': 'r.example:5000/aiko-backend:r42 | replicated x2 | start-first | node.labels.data == true | cap_drop command environment healthcheck logging read_only stop_grace_period volumes',
        'celery-beat': 'r.example:5000/aiko-backend:r42 | replicated x1 | stop-first | anywhere | cap_drop command environment healthcheck logging read_only volumes',
        frontend: 'r.example:5000/aiko-frontend:r42 | replicated x2 | start-first | anywhere | cap_drop environment healthcheck logging networks stop_grace_period',
        nginx: 'nginx:1.27-alpine | replicated x1 | stop-first | node.labels.edge == true | cap_add cap_drop environment healthcheck logging ports read_only stop_grace_period stop_signal volumes',
        prometheus: 'prom/prometheus:v2.54.1 | replicated x1 | stop-first | node.labels.data == true | cap_drop command environment healthcheck logging read_only user volumes',
        alertmanager: 'prom/alertmanager:v0.28.1 | replicated x1 | stop-first | node.labels.data == true | cap_drop command environment healthcheck logging read_only user volumes',
        'node-exporter': 'prom/node-exporter:v1.8.2 | global | stop-first | anywhere | cap_drop command healthcheck logging read_only user volumes',
        'postgres-exporter': 'prometheuscommunity/postgres-exporter:v0.15.0 | replicated x1 | start-first | anywhere | cap_drop environment healthcheck logging read_only user',
        'redis-exporter': 'oliver006/redis_exporter:v1.62.0-alpine | replicated x1 | start-first | anywhere | cap_drop environment healthcheck logging read_only user',
        'nginx-exporter': 'nginx/nginx-prometheus-exporter:1.3.0 | replicated x1 | start-first | anywhere | cap_drop command logging read_only user',
      },
      omitted: [
        { service: 'certbot', note: 'profile tools: run on demand on its node (docker run), not a service' },
        { service: 'grafana', note: 'profile monitoring-ui not enabled' },
      ],
      notes: [
        { service: 'backend', note: 'network aliases dropped: nginx reaches the service by its name' },
        { service: 'backend', note: 'runs on the data node only: volume uploads is on local storage (settings.sharedVolumes lets it run anywhere)' },
        { service: 'celery-worker', note: 'runs on the data node only: volume uploads is on local storage (settings.sharedVolumes lets it run anywhere)' },
        { service: 'frontend', note: 'network aliases dropped: nginx reaches the service by its name' },
        {
          service: 'postgres, redis, backend, celery-worker, celery-beat, frontend, nginx, prometheus, alertmanager, node-exporter, postgres-exporter, redis-exporter, nginx-exporter',
          note: 'security_opt (no-new-privileges) is not applied to Swarm services by Engine 20.10',
        },
      ],
      volumes: { 'postgres-data': null, 'redis-data': null, uploads: null, 'prometheus-data': null, 'alertmanager-data': null, letsencrypt: null, 'certbot-webroot': null },
      secrets: { 'redis-config': { file: '/srv/ai-ko/var/secrets/redis.conf' } },
      // $$ stays escaped: `docker stack deploy` substitutes once more
      postgresHealth: { test: ['CMD-SHELL', 'pg_isready -q -h 127.0.0.1 -U "$$POSTGRES_USER" -d "$$POSTGRES_DB"'], interval: '10s', timeout: '5s', retries: 5, start_period: '30s' },
      nginxPorts: [
        { target: 80, published: 80, protocol: 'tcp', mode: 'host' },
        { target: 443, published: 443, protocol: 'tcp', mode: 'host' },
      ],
    })
  })
})

describe('interpolateString', () => {
  const vars = { SET: 'v', EMPTY: '', DOLLAR: 'a$b' }

  it('the compose forms, with $$ kept escaped and $ in values escaped for the second pass', () => {
    expect(
      [
        '$SET ${SET}', '${SET:-d} ${EMPTY:-d} ${UNSET:-d}', '${SET-d} ${EMPTY-d} ${UNSET-d}', '$$SET $${SET}', '${DOLLAR}', 'no variable',
      ].map((text) => interpolateString(text, vars)),
    ).toEqual(['v v', 'v d d', 'v  d', '$$SET $${SET}', 'a$$b', 'no variable'])
  })

  it('required variables and malformed substitutions are errors', () => {
    expect(() => interpolateString('${EMPTY:?is needed}', vars)).toThrow('EMPTY: is needed')
    expect(() => interpolateString('${UNSET?}', vars)).toThrow('UNSET: must be set')
    expect(interpolateString('${EMPTY?}', vars)).toBe('')
    expect(() => interpolateString('${1BAD}', vars)).toThrow('invalid substitution "${1BAD}" in "${1BAD}"')
    // a variable inside a default is not supported (docker-compose.yml has none)
    expect(() => interpolateString('${UNSET:-${SET}}', vars)).toThrow('invalid substitution "${SET" in "${SET"')
  })

  it('names the variables used without a default that are not set', () => {
    expect(interpolateValues({ a: ['$UNSET_A', { b: '${UNSET_B} ${SET}' }], n: 3, k: null }, vars)).toEqual({ value: { a: ['', { b: ' v' }], n: 3, k: null }, unset: ['UNSET_A', 'UNSET_B'] })
  })
})
