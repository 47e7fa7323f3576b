# Shell helpers shared by the throwaway servers of the tests (postfix.sh,
# dovecot.sh): free ports, reachable folders, a test CA and server certificate.
# Sourced; callers define log().

# Port picking needs Python 3; prefer the system one (a pyenv shim costs ~0.2 s).
if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi

# Prints one port per argument. Each argument is "fixed:N" (taken as it is),
# "prefer:N" (kept if 127.0.0.1:N is free to listen on) or "any"; the others
# are free ports picked by the kernel, all distinct (bound at once, then released).
pick_ports() {
    "$PYTHON" - "$@" <<'EOF'
import socket, sys
held, out = [], []
def bindable(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return False
    held.append(s)
    return True
for arg in sys.argv[1:]:
    kind, _, value = arg.partition(":")
    if kind == "fixed" or (kind == "prefer" and bindable(int(value))):
        out.append(value)
    else:
        out.append(None)
for i, port in enumerate(out):
    if port is None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
        out[i] = str(s.getsockname()[1])
print(" ".join(out))
EOF
}

# Does something accept TCP connections on 127.0.0.1:$1?
port_open() {
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Creates DIR, and makes it and every folder above it enterable by USER (a
# server's unprivileged user): folders this makes get 0755 (whatever the
# umask); folders that already exist and keep USER out (mktemp -d makes 0700
# ones) get the search bit for "other" (o+x), nothing more; DIR itself gets 0755.
make_dir_reachable() {
    local dir=$1 user=$2 path=$1 created=()
    while [ ! -e "$path" ]; do
        created+=("$path")
        path=$(dirname "$path")
    done
    mkdir -p "$dir"
    [ "${#created[@]}" = 0 ] || chmod 0755 "${created[@]}"
    chmod 0755 "$dir"
    # Top down, so that each test sees its parents already fixed.
    local parts=() p=$dir
    while [ "$p" != / ]; do
        p=$(dirname "$p")
        parts=("$p" "${parts[@]}")
    done
    for p in "${parts[@]}"; do
        if ! runuser -u "$user" -- test -x "$p" 2>/dev/null; then
            log "making $p enterable by $user (chmod o+x)"
            chmod o+x "$p"
        fi
    done
}

# The test CA, the server certificate it signs, and an unrelated CA. Extensions
# follow what strict verifiers (webpki/rustls, Python's VERIFY_X509_STRICT) want.
make_certificates() {
    local dir=$1
    if [ -s "$dir/ca.pem" ] && [ -s "$dir/ca.key" ] && [ -s "$dir/server.pem" ] \
        && [ -s "$dir/server.key" ] && [ -s "$dir/other-ca.pem" ] \
        && openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" >/dev/null 2>&1 \
        && openssl x509 -in "$dir/server.pem" -noout -checkend 86400 >/dev/null 2>&1; then
        return 0   # a restart keeps the CA the tests may already trust
    fi
    local tmp
    tmp=$(mktemp -d)
    cat >"$tmp/ext.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
    local ca
    for ca in ca other-ca; do
        openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 30 \
            -subj "/O=hotpapers tests/CN=hotpapers $ca $(date +%s)" \
            -config "$tmp/ext.cnf" -extensions ca \
            -keyout "$tmp/$ca.key" -out "$tmp/$ca.pem" 2>/dev/null
    done
    openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
        -config "$tmp/ext.cnf" -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
    openssl x509 -req -in "$tmp/server.csr" -sha256 -days 30 \
        -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
        -extfile "$tmp/ext.cnf" -extensions server -out "$tmp/server.pem" 2>/dev/null
    install -m 0644 "$tmp/ca.pem" "$tmp/other-ca.pem" "$tmp/server.pem" "$dir/"
    install -m 0600 "$tmp/ca.key" "$tmp/server.key" "$dir/"
    rm -rf "$tmp"
}

