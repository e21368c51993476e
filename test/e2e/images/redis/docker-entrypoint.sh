#!/bin/sh
# A compact version of the official redis image's docker-entrypoint.sh.
set -e

# "docker run redis --appendonly yes" / "docker run redis /path/redis.conf"
case "$1" in
  -*|*.conf) set -- redis-server "$@" ;;
esac

if [ "$1" = redis-server ]; then
  # The official image builds Redis with protected mode off (it runs in a container);
  # Debian's default is on, so switch it off unless a config file or the args decide.
  case "$2" in
    *.conf) ;;
    *) case " $* " in
         *" --protected-mode "*) ;;
         *) set -- "$@" --protected-mode no ;;
       esac ;;
  esac
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' + 2>/dev/null || :
    # Redis' "daemonize" etc. stay at their defaults (foreground).
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
  fi
  um="$(umask)"
  if [ "$um" = 0022 ]; then umask 0077; fi
fi

exec "$@"
