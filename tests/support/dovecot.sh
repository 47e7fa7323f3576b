#!/usr/bin/env bash
# A throwaway Dovecot IMAPS server on loopback, for the tests of
# `hotpapers bounces process --imap`.
#
#   tests/support/dovecot.sh install         install dovecot-imapd and openssl from Debian when missing
#   tests/support/dovecot.sh start DIR       set up and start an instance configured in DIR
#   tests/support/dovecot.sh deliver DIR     deliver the message on standard input to the user's
#                                            INBOX with dovecot-lda, as an MTA does
#   tests/support/dovecot.sh stop DIR        stop it (a stopped instance is fine)
#
# `start DIR` makes DIR (if needed) and writes into it:
#   dovecot.conf         the instance's whole configuration (`dovecot -c`)
#   users                its passwd-file: one user, IMAP_USER
#   ca.pem, server.pem   a test CA and its certificate for localhost/127.0.0.1
#   other-ca.pem         an unrelated CA, for tests that must see the server refused
#   home/USER/Maildir    the user's mail
#   dovecot.log          its log
#   env                  KEY=value lines for the tests:
#                          IMAPS_PORT      implicit TLS; LOGIN and PLAIN, no plain-text port
#                          IMAP_USER       hotpapers-bounces
#                          IMAP_PASSWORD   random hex
#                          CA, OTHER_CA    paths of ca.pem and other-ca.pem
#                          MAILDIR         the user's Maildir
#                          LOG             dovecot.log
#
# Needs root (Dovecot starts as root and drops to its own users).

set -euo pipefail

readonly IMAP_USER=hotpapers-bounces

log() { printf 'dovecot.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=tests/support/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

cmd_install() {
    local missing=()
    [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
    command -v openssl >/dev/null || missing+=(openssl)
    if [ "${#missing[@]}" = 0 ]; then
        log "install: dovecot-imapd and openssl are present"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "install needs root"
    log "install: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=120
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=120 "${missing[@]}"
    # The package's own instance is not wanted; ours run with their own
    # configuration (and base folder), and never need it.
    if command -v systemctl >/dev/null; then
        systemctl disable --now dovecot.service >/dev/null 2>&1 || true
    fi
    /usr/sbin/dovecot stop >/dev/null 2>&1 || true
}

cmd_start() {
    local dir=$1
    [ "$(id -u)" = 0 ] || die "start needs root"
    [ -x /usr/sbin/dovecot ] || die "dovecot is not installed (run: $0 install)"
    id dovecot >/dev/null 2>&1 && id dovenull >/dev/null 2>&1 \
        || die "the users dovecot and dovenull are missing (run: $0 install)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    make_dir_reachable "$dir" dovecot
    make_certificates "$dir"
    local port password uid gid
    port=$(pick_ports any)
    password=$(openssl rand -hex 16)
    uid=$(id -u dovecot)
    gid=$(id -g dovecot)
    mkdir -p "$dir/run" "$dir/state" "$dir/home/$IMAP_USER/Maildir"/{new,cur,tmp}
    chown -R dovecot:dovecot "$dir/home"
    printf '%s:{PLAIN}%s\n' "$IMAP_USER" "$password" >"$dir/users"
    chmod 0640 "$dir/users"
    chgrp dovecot "$dir/users"
    cat >"$dir/dovecot.conf" <<EOF
# Written by tests/support/dovecot.sh: a test instance, loopback only.
instance_name = hotpapers-$(basename "$(dirname "$dir")")-$(basename "$dir")
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <$dir/server.pem
ssl_key = <$dir/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = $uid
last_valid_uid = $uid
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dir/home/%u
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $port
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
protocol lda {
  postmaster_address = postmaster@localhost
}
EOF
    # Its daemons must not hold the caller's stdout and stderr open.
    /usr/sbin/dovecot -c "$dir/dovecot.conf" </dev/null >>"$dir/dovecot.log" 2>&1 \
        || { tail -n 20 "$dir/dovecot.log" >&2 2>/dev/null; die "dovecot did not start"; }
    local i
    for i in $(seq 1 100); do
        port_open "$port" && break
        sleep 0.1
    done
    port_open "$port" || { tail -n 20 "$dir/dovecot.log" >&2; die "dovecot does not listen on $port"; }
    cat >"$dir/env" <<EOF
IMAPS_PORT=$port
IMAP_USER=$IMAP_USER
IMAP_PASSWORD=$password
CA=$dir/ca.pem
OTHER_CA=$dir/other-ca.pem
MAILDIR=$dir/home/$IMAP_USER/Maildir
LOG=$dir/dovecot.log
EOF
    log "started on 127.0.0.1:$port (configuration $dir/dovecot.conf)"
}

cmd_deliver() {
    local dir=$1
    [ -f "$dir/dovecot.conf" ] || die "no instance in $dir"
    /usr/lib/dovecot/dovecot-lda -c "$dir/dovecot.conf" -d "$IMAP_USER" -f postmaster@localhost
}

cmd_stop() {
    local dir=$1
    [ -f "$dir/dovecot.conf" ] || return 0
    /usr/sbin/dovecot -c "$dir/dovecot.conf" stop >/dev/null 2>&1 || true
}

main() {
    [ $# -ge 1 ] || usage
    case $1 in
        install) cmd_install ;;
        start) [ $# = 2 ] || usage; cmd_start "$2" ;;
        deliver) [ $# = 2 ] || usage; cmd_deliver "$2" ;;
        stop) [ $# = 2 ] || usage; cmd_stop "$2" ;;
        *) usage ;;
    esac
}

main "$@"
