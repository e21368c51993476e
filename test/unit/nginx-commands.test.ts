import { describe, expect, it } from 'vitest'
import { formatArgv } from '../../lib/exec/executor.ts'
import { nginxReload, nginxTest, waitForOldNginxWorkers } from '../../lib/nginx/apply.ts'
import { siteCheckArgv } from '../../lib/nginx/served.ts'

const line = (command: { argv: readonly string[] }) => formatArgv(command.argv)

describe('nginx command builders (run in the nginx container)', () => {
  it('nginx -t', () => {
    expect(line(nginxTest('c0ffee'))).toBe('docker exec c0ffee nginx -t')
  })

  it('reload, then wait until no worker of the previous generation accepts (10 s at most)', () => {
    const reload = nginxReload('c0ffee')
    expect(reload.argv).toEqual([
      'docker', 'exec', 'c0ffee', 'sh', '-c',
      [
        'm=$(cat /run/nginx.pid 2>/dev/null || cat /var/run/nginx.pid 2>/dev/null)',
        'accepting() { for d in /proc/[0-9]*; do set -- $(cat "$d/stat" 2>/dev/null); [ "${4:-}" = "$m" ] || continue; tr "\\0" " " < "$d/cmdline" 2>/dev/null | grep -q "shutting down" || printf "%s " "$1"; done; }',
        'old=$(accepting)',
        'nginx -s reload || exit $?',
        'i=0',
        'while :; do now=" $(accepting)"; left=""; for p in $old; do case "$now " in *" $p "*) left="$left $p";; esac; done; [ -z "$left" ] && exit 0; i=$((i+1)); if [ $i -ge 100 ]; then echo "nginx did not apply the new configuration within 10 s (workers$left still serve the old one): see docker compose logs nginx" >&2; exit 1; fi; sleep 0.1; done',
      ].join('\n'),
      'nginx -s reload',
    ])
    expect(reload.mutates).toBe(true)
    expect(reload.timeoutMs).toBe(30_000)
  })

  it('waits for the workers that are shutting down', () => {
    expect(line(waitForOldNginxWorkers('c0ffee'))).toBe(
      `docker exec c0ffee sh -c 'i=0; while grep -qs "is shutting [d]own" /proc/[0-9]*/cmdline; do i=$((i+1)); [ $i -ge 150 ] && exit 1; sleep 0.1; done; exit 0'`,
    )
  })

  it('checks the site as its own host on the unpublished plain port', () => {
    expect(formatArgv(siteCheckArgv('aiko.example'))).toBe("wget -q -T 10 -O /dev/null --header 'Host: aiko.example' http://127.0.0.1:8081/api/health")
  })
})
