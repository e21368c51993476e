#!/bin/sh
# Host keys of this container, the authorized key of the restic user, then sshd.
set -eu
ssh-keygen -A >/dev/null
if [ -n "${AUTHORIZED_KEY:-}" ]; then
  printf '%s\n' "$AUTHORIZED_KEY" > /srv/restic/.ssh/authorized_keys
  chown restic:restic /srv/restic/.ssh/authorized_keys
  chmod 600 /srv/restic/.ssh/authorized_keys
fi
exec "$@"
