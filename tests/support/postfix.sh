#!/usr/bin/env bash
# A throwaway Postfix SMTP relay on loopback, for integration tests of TLS and AUTH.
#
#   tests/support/postfix.sh install      install postfix, sasl2-bin, libsasl2-modules,
#                                         openssl from Debian when missing
#   tests/support/postfix.sh start DIR    set up and start an instance configured in DIR
#   tests/support/postfix.sh stop DIR     stop it (a stopped instance is fine)
#
# `start DIR` makes DIR (if needed) and writes into it:
#   main.cf, master.cf   the instance's configuration (`postfix -c DIR`)
#   ca.pem, ca.key       a test CA; server.pem, server.key its certificate for
#                        DNS:localhost and IP:127.0.0.1
#   other-ca.pem         an unrelated CA, for tests that must see the server refused
#   sasl/smtpd.conf      Cyrus SASL settings (PLAIN and LOGIN from a sasldb)
#   sasldb2              the instance's own SASL user database
#   queue/ data/         Postfix's queue and data directories
#   mail/                a Maildir that every recipient of every domain lands in
#   maillog              Postfix's log (there is no syslog)
#   env                  KEY=value lines for the tests (no quoting: values never
#                        hold spaces or shell metacharacters):
#                          SMTP_HOST        127.0.0.1
#                          SMTP_PORT        plain SMTP: no TLS, no AUTH, open to 127.0.0.1
#                          SUBMISSION_PORT  STARTTLS required; AUTH offered only after
#                                           STARTTLS and required to send
#                          SMTPS_PORT       implicit TLS (wrapper mode); AUTH required
#                          SMTP_USER        hotpapers-test
#                          SMTP_PASSWORD    random hex, or $SMTP_PASSWORD
#                          CA, OTHER_CA     paths of ca.pem and other-ca.pem
#                          MAILDIR, MAILLOG paths of mail/ and maillog
#                          INSTANCE         the instance's name (see POSTFIX_INSTANCE)
#
# Environment knobs for `start`:
#   PORT_SMTP, PORT_SUBMISSION, PORT_SMTPS  fixed ports (default: free ones picked on
#                                           127.0.0.1; a restart of the same DIR keeps
#                                           the previous ones while they are free)
#   SMTP_PASSWORD                           the password (default: the previous one of
#                                           this DIR, else random)
#   RELAY_HOST, LOCAL_DOMAINS               relay mode: mail for LOCAL_DOMAINS (a
#                                           comma list) goes into the Maildir, all
#                                           other mail is relayed to RELAY_HOST
#                                           ("[127.0.0.1]:2525"); a next hop that
#                                           refuses makes Postfix write real DSNs
#   SASL_MECHANISMS                         AUTH mechanisms offered (default
#                                           "PLAIN LOGIN"; "LOGIN" tests a client's
#                                           fallback)
#   POSTFIX_INSTANCE                        the instance's name, used for its log lines
#                                           (syslog_name) and as its SASL realm (default:
#                                           derived from DIR, so two DIRs never clash).
#                                           Two instances run side by side as long as
#                                           their DIRs (and names) differ.
#
# Needs root (it edits /etc/postfix/main.cf and runs `postfix start`); when run by
# another user it re-runs itself through sudo, and mail is then delivered as that
# user so the tests can read it.

# "A && B || die" is meant: die unless every condition holds.
# shellcheck disable=SC2015
set -euo pipefail

# Postfix commands read MAIL_CONFIG; never let a caller's value redirect the
# default configuration that this script edits.
unset MAIL_CONFIG

# pick_ports, port_open, make_dir_reachable, make_certificates.
# shellcheck source=tests/support/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly SASL_USER=hotpapers-test
readonly DEFAULT_MAIN_CF=/etc/postfix/main.cf
# Serializes edits of /etc/postfix/main.cf between instances started at once.
if [ -d /run/lock ]; then LOCK_FILE=/run/lock/hotpapers-postfix.lock; else LOCK_FILE=/tmp/hotpapers-postfix.lock; fi
readonly LOCK_FILE

log() { printf 'postfix.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------

cmd_install() {
    local missing=()
    [ -x /usr/sbin/postfix ] || missing+=(postfix)
    [ -x /usr/sbin/saslpasswd2 ] || missing+=(sasl2-bin)
    # The PLAIN and LOGIN mechanisms live in libsasl2-modules.
    dpkg-query -W -f='${Status}' libsasl2-modules 2>/dev/null | grep -q 'ok installed' \
        || missing+=(libsasl2-modules)
    command -v openssl >/dev/null || missing+=(openssl)
    if [ "${#missing[@]}" = 0 ]; then
        log "install: postfix, sasl2-bin, libsasl2-modules and openssl are present"
        ensure_default_main_cf
        return 0
    fi
    log "install: installing ${missing[*]}"
    local had_postfix=yes
    [ -x /usr/sbin/postfix ] || had_postfix=no
    # "No configuration": the package writes no /etc/postfix/main.cf and asks nothing.
    printf '%s\n' \
        'postfix postfix/main_mailer_type select No configuration' \
        'postfix postfix/mailname string localhost' \
        | as_root debconf-set-selections
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=120
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        -o DPkg::Lock::Timeout=120 --no-install-recommends "${missing[@]}"
    ensure_default_main_cf
    if [ "$had_postfix" = no ]; then
        stop_system_postfix
    fi
}

# `postfix -c DIR` needs DIR listed in the default main.cf; with "No configuration"
# there is none, so write a minimal one. master_service_disable = inet keeps a
# system instance, should anything ever start it from this file, off every port.
ensure_default_main_cf() {
    if [ ! -e "$DEFAULT_MAIN_CF" ]; then
        log "writing a minimal $DEFAULT_MAIN_CF (no system instance is configured)"
        as_root sh -c "cat > '$DEFAULT_MAIN_CF'" <<'EOF'
# Written by hotpapers tests/support/postfix.sh: the package was installed with
# "No configuration". Only alternate_config_directories matters here; the test
# instances have their own configuration folders.
compatibility_level = 3.6
master_service_disable = inet
alternate_config_directories =
EOF
    fi
}

# The package may have started the system-wide instance (port 25): stop it and
# keep it from starting again at boot.
stop_system_postfix() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        as_root systemctl disable --now postfix.service >/dev/null 2>&1 || true
    fi
    if as_root postfix status >/dev/null 2>&1; then
        log "install: stopping the system-wide Postfix instance"
        as_root postfix stop >/dev/null 2>&1 || true
    fi
}

# ---------------------------------------------------------------------------
# helpers for start / stop
# ---------------------------------------------------------------------------

# An absolute, symlink-free DIR of safe characters only: Postfix lists it in a
# comma/space separated parameter and env values are written unquoted.
canonical_dir() {
    local dir=$1
    case $dir in /*) ;; *) dir="$PWD/$dir" ;; esac
    dir=$(realpath -m -- "$dir")
    [[ $dir =~ ^/[A-Za-z0-9._/+-]+$ ]] \
        || die "DIR must be a path of letters, digits and . _ / + - only: $dir"
    [ "$dir" != / ] && [ "$dir" != /etc/postfix ] || die "refusing DIR=$dir"
    printf '%s\n' "$dir"
}

# Adds or removes DIR in alternate_config_directories of the default main.cf,
# keeping every other entry. Holds the lock so concurrent starts don't race.
edit_alternate_dirs() {
    local action=$1 dir=$2 entry current=() kept=() found=no
    ensure_default_main_cf
    exec 9>"$LOCK_FILE"
    flock -w 30 9 || die "could not lock $LOCK_FILE"
    read -r -a current <<<"$(postconf -c /etc/postfix -h alternate_config_directories | tr ',' ' ')"
    for entry in "${current[@]}"; do
        if [ "$entry" = "$dir" ]; then
            found=yes
            [ "$action" = add ] && kept+=("$entry")
        else
            kept+=("$entry")
        fi
    done
    [ "$action" = add ] && [ "$found" = no ] && kept+=("$dir")
    if [ "$action" = add ] && [ "$found" = yes ]; then :;
    elif [ "$action" = remove ] && [ "$found" = no ]; then :;
    else
        local IFS=' '
        postconf -c /etc/postfix -e "alternate_config_directories = ${kept[*]}"
        # Every postfix command of the instance reads this file too, and waits
        # while it looks freshly written (see the touch in cmd_start).
        touch -d '-1 minute' "$DEFAULT_MAIN_CF"
    fi
    exec 9>&-
}

# Is a master process running for the instance in $1? (`master -t` exits 0 when
# its lock file is absent or unlocked.)
instance_running() {
    [ -f "$1/main.cf" ] || return 1
    ! "$(postconf -c "$1" -h daemon_directory)/master" -c "$1" -t 2>/dev/null
}

# Value of KEY in an existing DIR/env, or nothing.
previous() {
    local file=$1 key=$2
    [ -f "$file" ] || return 0
    sed -n "s/^$key=//p" "$file" | tail -n 1
}

# ---------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------

# A failed start: show the end of the maillog (without postfix check's ownership
# warnings), stop whatever did start, unlist DIR, and fail.
fail_start() {
    local dir=$1
    log "$2; maillog tail:"
    grep -v -e 'warning: not owned by root' -e 'warning: group or other writable' \
        "$dir/maillog" 2>/dev/null | tail -n 20 >&2 || true
    if instance_running "$dir"; then
        postfix -c "$dir" stop >>"$dir/maillog" 2>&1 || true
    fi
    edit_alternate_dirs remove "$dir"
    exit 1
}

cmd_start() {
    local dir
    dir=$(canonical_dir "$1")
    command -v postfix >/dev/null && command -v saslpasswd2 >/dev/null \
        || die "postfix or saslpasswd2 missing: run '$0 install' first"
    local t0
    t0=$(date +%s%N)

    make_dir_reachable "$dir" postfix
    if instance_running "$dir"; then
        die "an instance is already running in $dir: stop it first"
    fi

    # Who owns delivered mail: the user who ran us through sudo, else postfix
    # (virtual(8) refuses uid 0).
    local mail_uid mail_gid
    if [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ]; then
        mail_uid=$SUDO_UID mail_gid=${SUDO_GID:-$SUDO_UID}
    else
        mail_uid=$(id -u postfix) mail_gid=$(id -g postfix)
    fi

    local instance=${POSTFIX_INSTANCE:-hp$(printf '%s' "$dir" | cksum | cut -d' ' -f1)}
    [[ $instance =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]] || die "bad POSTFIX_INSTANCE: $instance"

    # Ports: the environment's, else the previous run's while still free, else new.
    local envfile="$dir/env" p_smtp p_sub p_smtps ports=() key
    for key in SMTP:SMTP_PORT SUBMISSION:SUBMISSION_PORT SMTPS:SMTPS_PORT; do
        local fixed_var="PORT_${key%%:*}" prev
        prev=$(previous "$envfile" "${key#*:}")
        if [ -n "${!fixed_var:-}" ]; then ports+=("fixed:${!fixed_var}")
        elif [ -n "$prev" ]; then ports+=("prefer:$prev")
        else ports+=(any)
        fi
    done
    read -r p_smtp p_sub p_smtps <<<"$(pick_ports "${ports[@]}")"
    local p
    for p in "$p_smtp" "$p_sub" "$p_smtps"; do
        [[ $p =~ ^[0-9]+$ ]] && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || die "bad port: $p"
    done
    [ "$p_smtp" != "$p_sub" ] && [ "$p_sub" != "$p_smtps" ] && [ "$p_smtp" != "$p_smtps" ] \
        || die "the three ports must differ: $p_smtp $p_sub $p_smtps"

    local password=${SMTP_PASSWORD:-$(previous "$envfile" SMTP_PASSWORD)}
    password=${password:-$(openssl rand -hex 16)}
    [[ $password =~ ^[!-~]+$ ]] && [[ $password != *=* ]] \
        || die "SMTP_PASSWORD must be printable ASCII without spaces or '='"

    make_certificates "$dir"

    # Folders. The queue is filled in by `postfix start` (post-install
    # create-missing); data_directory must belong to postfix; the Maildir to
    # whoever mail is delivered as.
    mkdir -p "$dir/queue" "$dir/data" "$dir/sasl" "$dir/mail/new" "$dir/mail/cur" "$dir/mail/tmp"
    chmod 0755 "$dir/queue" "$dir/sasl" "$dir/mail" "$dir/mail/new" "$dir/mail/cur" "$dir/mail/tmp"
    chown root:root "$dir/queue"
    chown postfix:postfix "$dir/data"
    chmod 0700 "$dir/data"
    chown -R "$mail_uid:$mail_gid" "$dir/mail"

    # SASL: the instance's own sasldb, read by smtpd as the postfix user (it
    # drops supplementary groups, so the file's group must be postfix). The
    # realm is the instance name; smtpd_sasl_local_domain appends it to the bare
    # user name, so "hotpapers-test" authenticates.
    cat >"$dir/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $dir/sasldb2
mech_list: ${SASL_MECHANISMS:-PLAIN LOGIN}
EOF
    chmod 0644 "$dir/sasl/smtpd.conf"
    rm -f "$dir/sasldb2"
    printf '%s' "$password" | saslpasswd2 -p -c -f "$dir/sasldb2" -u "$instance" "$SASL_USER"
    chown root:postfix "$dir/sasldb2"
    chmod 0640 "$dir/sasldb2"

    : >"$dir/maillog"

    cat >"$dir/main.cf" <<EOF
# Throwaway test instance written by tests/support/postfix.sh; see there.
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
syslog_name = postfix-$instance
maillog_file = $dir/maillog
maillog_file_prefixes = /var, /dev/stdout, $dir
multi_instance_name = postfix-$instance

myhostname = localhost
mydomain = localhost
myorigin = localhost
mydestination =
relay_domains =
relayhost = ${RELAY_HOST:-}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mynetworks_style = host
alias_maps =
alias_database =
biff = no
smtpd_banner = \$myhostname ESMTP hotpapers test relay ($instance)
# No pause after client errors (tests provoke them on purpose).
smtpd_error_sleep_time = 0

# Every recipient of every domain goes into one Maildir, $dir/mail/ (with
# RELAY_HOST set: only the LOCAL_DOMAINS; the rest is relayed there).
virtual_mailbox_domains = ${LOCAL_DOMAINS:-static:all}
virtual_mailbox_base = $dir
virtual_mailbox_maps = static:mail/
virtual_uid_maps = static:$mail_uid
virtual_gid_maps = static:$mail_gid
virtual_minimum_uid = 1
virtual_mailbox_limit = 0
message_size_limit = 52428800

# Nothing stays queued: a message that cannot be delivered bounces at once.
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0

# The plain port (25-like) is open to mynetworks; submission and smtps
# override these in master.cf.
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =

# TLS (only submission and smtps turn it on).
smtpd_tls_chain_files = $dir/server.key, $dir/server.pem
smtpd_tls_security_level = none
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database =
smtp_tls_security_level = none

# Cyrus SASL, configured by $dir/sasl/smtpd.conf (only submission and smtps
# turn it on).
smtpd_sasl_auth_enable = no
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $dir/sasl
smtpd_sasl_local_domain = $instance
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_authenticated_header = yes
broken_sasl_auth_clients = no
EOF

    # No service is chrooted (Debian's master.cf chroots smtpd into the system
    # queue, where neither the sasldb nor the certificates are).
    cat >"$dir/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
$p_smtp      inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix-$instance/smtp
  -o smtpd_sasl_auth_enable=no
  -o smtpd_tls_security_level=none
$p_sub      inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix-$instance/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
$p_smtps      inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix-$instance/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    chmod 0644 "$dir/main.cf" "$dir/master.cf"
    # Postfix re-reads a main.cf modified within the last second or two, 300 ms
    # at a time, until it looks settled (1.5 s per postfix/postconf command):
    # backdate the files.
    touch -d '-1 minute' "$dir/main.cf" "$dir/master.cf"

    edit_alternate_dirs add "$dir"

    # The tests' view of the instance, written before the start so a failed
    # start still leaves the paths to look at.
    local tmp_env="$envfile.tmp"
    cat >"$tmp_env" <<EOF
SMTP_HOST=127.0.0.1
SMTP_PORT=$p_smtp
SUBMISSION_PORT=$p_sub
SMTPS_PORT=$p_smtps
SMTP_USER=$SASL_USER
SMTP_PASSWORD=$password
CA=$dir/ca.pem
OTHER_CA=$dir/other-ca.pem
MAILDIR=$dir/mail
MAILLOG=$dir/maillog
INSTANCE=$instance
EOF
    chmod 0644 "$tmp_env"
    mv -f "$tmp_env" "$envfile"

    # `postfix start` first runs `postfix check`, which creates the queue and
    # logs harmless "not owned by root" warnings for queue/, data/ and mail/:
    # they sit inside the configuration folder.
    if ! postfix -c "$dir" start >>"$dir/maillog" 2>&1; then
        fail_start "$dir" "postfix -c $dir start failed"
    fi

    # Wait for the three listeners.
    local deadline=$((SECONDS + 20)) waiting
    while :; do
        waiting=()
        for p in "$p_smtp" "$p_sub" "$p_smtps"; do
            port_open "$p" || waiting+=("$p")
        done
        [ "${#waiting[@]}" = 0 ] && break
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail_start "$dir" "ports ${waiting[*]} did not open within 20 s"
        fi
        sleep 0.1
    done
    log "started instance $instance in $dir (smtp $p_smtp, submission $p_sub, smtps $p_smtps) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

# ---------------------------------------------------------------------------
# stop
# ---------------------------------------------------------------------------

cmd_stop() {
    local dir
    dir=$(canonical_dir "$1")
    if ! command -v postfix >/dev/null; then
        log "postfix is not installed: nothing to stop"
        return 0
    fi
    if instance_running "$dir"; then
        # Waits up to 5 s for the master to exit, then kills it.
        postfix -c "$dir" stop >>"$dir/maillog" 2>&1 || true
    fi
    [ -e "$DEFAULT_MAIN_CF" ] && edit_alternate_dirs remove "$dir"
    log "stopped $dir"
}

# ---------------------------------------------------------------------------

main() {
    [ $# -ge 1 ] || usage
    local cmd=$1
    shift
    case $cmd in
        install) [ $# = 0 ] || usage; cmd_install ;;
        start | stop)
            [ $# = 1 ] || usage
            if [ "$(id -u)" != 0 ]; then
                exec sudo --preserve-env=PORT_SMTP,PORT_SUBMISSION,PORT_SMTPS,SMTP_PASSWORD,POSTFIX_INSTANCE,SASL_MECHANISMS,RELAY_HOST,LOCAL_DOMAINS \
                    bash "$0" "$cmd" "$@"
            fi
            "cmd_$cmd" "$1"
            ;;
        *) usage ;;
    esac
}

main "$@"
