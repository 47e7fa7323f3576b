#!/usr/bin/env python3
"""Checks a relay started by tests/support/postfix.sh, by hand, with smtplib.

    python3 tests/support/postfix_selftest.py DIR

Reads DIR/env, prints one line per check ("ok - ..." or "FAIL - ...") and a
closing "N passed, N failed" line; exits 1 if any check failed.
"""

import os
import smtplib
import socket
import ssl
import sys
import time
import uuid
from email.message import EmailMessage

TIMEOUT = 10  # seconds, for every connection
ARRIVAL_TIMEOUT = 10  # seconds a delivered message may take to reach the Maildir


def read_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = value
    return env


def context(cafile):
    """A client context that trusts cafile only, and checks the host name."""
    ctx = ssl.create_default_context(cafile=cafile)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    return ctx


def ehlo_features(conn):
    code, _ = conn.ehlo()
    if code != 250:
        raise AssertionError(f"EHLO answered {code}")
    return conn.esmtp_features


def auth_mechanisms(conn):
    return set(conn.esmtp_features.get("auth", "").upper().split())


def message(token, sender="hotpapers@example.com", to="reader@example.org"):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"postfix selftest {token}"
    msg["Message-ID"] = f"<{token}@hotpapers.test>"
    msg.set_content(f"token {token}\n")
    return msg


def wait_for_delivery(maildir, token):
    """Path of the Maildir file holding token, waiting up to ARRIVAL_TIMEOUT s."""
    new = os.path.join(maildir, "new")
    needle = token.encode()
    deadline = time.monotonic() + ARRIVAL_TIMEOUT
    while True:
        for name in os.listdir(new):
            path = os.path.join(new, name)
            try:
                with open(path, "rb") as f:
                    if needle in f.read():
                        return path
            except FileNotFoundError:
                pass  # moved to cur/ meanwhile
        if time.monotonic() >= deadline:
            raise AssertionError(f"no message with token {token} in {new} after {ARRIVAL_TIMEOUT} s")
        time.sleep(0.1)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn):
        try:
            detail = fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            self.failed += 1
            print(f"FAIL - {name}: {type(e).__name__}: {e}", flush=True)
        else:
            self.passed += 1
            print(f"ok - {name}" + (f" ({detail})" if detail else ""), flush=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    env = read_env(os.path.join(sys.argv[1], "env"))
    host = env["SMTP_HOST"]
    smtp_port = int(env["SMTP_PORT"])
    sub_port = int(env["SUBMISSION_PORT"])
    smtps_port = int(env["SMTPS_PORT"])
    user, password = env["SMTP_USER"], env["SMTP_PASSWORD"]
    maildir = env["MAILDIR"]
    good = context(env["CA"])
    other = context(env["OTHER_CA"])
    checks = Checks()

    def submission():
        return smtplib.SMTP(host, sub_port, timeout=TIMEOUT)

    def smtps(ctx, name=host):
        return smtplib.SMTP_SSL(name, smtps_port, context=ctx, timeout=TIMEOUT)

    def send_and_find(conn, label):
        token = f"{label}-{uuid.uuid4().hex}"
        refused = conn.send_message(message(token))
        if refused:
            raise AssertionError(f"recipients refused: {refused}")
        path = wait_for_delivery(maildir, token)
        return token, path

    # 1. submission: STARTTLS, then AUTH PLAIN and LOGIN, then a message.
    def sub_ehlo_before_tls():
        with submission() as c:
            features = ehlo_features(c)
            if "starttls" not in features:
                raise AssertionError(f"no STARTTLS in {sorted(features)}")
            if "auth" in features:
                raise AssertionError(f"AUTH offered before STARTTLS: {features['auth']}")
            return "STARTTLS, no AUTH"

    def sub_mail_before_tls_refused():
        with submission() as c:
            c.ehlo()
            code, resp = c.mail("hotpapers@example.com")
            if code < 500:
                raise AssertionError(f"MAIL FROM before STARTTLS answered {code} {resp!r}")
            return f"{code} {resp.decode(errors='replace')}"

    def sub_ehlo_after_tls():
        with submission() as c:
            c.starttls(context=good)
            ehlo_features(c)
            mechs = auth_mechanisms(c)
            if not {"PLAIN", "LOGIN"} <= mechs:
                raise AssertionError(f"AUTH after STARTTLS lists {sorted(mechs)}")
            return f"AUTH {' '.join(sorted(mechs))}, {c.sock.version()}"

    def sub_unauthenticated_refused():
        with submission() as c:
            c.starttls(context=good)
            c.ehlo()
            c.mail("hotpapers@example.com")
            code, resp = c.rcpt("reader@example.org")
            if code < 500:
                raise AssertionError(f"RCPT without AUTH answered {code} {resp!r}")
            return f"{code} {resp.decode(errors='replace')}"

    def sub_auth(mech):
        def check():
            with submission() as c:
                c.starttls(context=good)
                c.ehlo()
                c.user, c.password = user, password
                authobject = c.auth_plain if mech == "PLAIN" else c.auth_login
                code, resp = c.auth(mech, authobject)
                if code != 235:
                    raise AssertionError(f"AUTH {mech} answered {code} {resp!r}")
                token, path = send_and_find(c, f"submission-{mech.lower()}")
                with open(path, "rb") as f:
                    head = f.read().decode(errors="replace")
                if f"Authenticated sender: {user}" not in head:
                    raise AssertionError("no 'Authenticated sender' in the Received header")
                return f"235, message in {os.path.relpath(path, maildir)}"
        return check

    # 2. the wrong password is refused with 535.
    def wrong_password(open_conn, mech):
        def check():
            with open_conn() as c:
                c.user, c.password = user, password + "-wrong"
                authobject = c.auth_plain if mech == "PLAIN" else c.auth_login
                try:
                    c.auth(mech, authobject)
                except smtplib.SMTPAuthenticationError as e:
                    if e.smtp_code != 535:
                        raise AssertionError(f"answered {e.smtp_code} {e.smtp_error!r}") from e
                    return f"{e.smtp_code} {e.smtp_error.decode(errors='replace')}"
                raise AssertionError("the wrong password was accepted")
        return check

    def sub_tls():
        c = submission()
        c.starttls(context=good)
        c.ehlo()
        return c

    # 3. smtps: implicit TLS, AUTH, a message.
    def smtps_send(name):
        def check():
            with smtps(good, name) as c:
                ehlo_features(c)
                mechs = auth_mechanisms(c)
                if not {"PLAIN", "LOGIN"} <= mechs:
                    raise AssertionError(f"AUTH lists {sorted(mechs)}")
                c.login(user, password)
                _, path = send_and_find(c, "smtps")
                return f"{c.sock.version()} as {name}, message in {os.path.relpath(path, maildir)}"
        return check

    def smtps_unauthenticated_refused():
        with smtps(good) as c:
            c.ehlo()
            c.mail("hotpapers@example.com")
            code, resp = c.rcpt("reader@example.org")
            if code < 500:
                raise AssertionError(f"RCPT without AUTH answered {code} {resp!r}")
            return f"{code}"

    # 4. a CA that did not sign the server certificate is refused.
    def untrusted(connect):
        def check():
            try:
                connect()
            except ssl.SSLCertVerificationError as e:
                return e.verify_message
            raise AssertionError("the handshake succeeded with other-ca.pem")
        return check

    def sub_other_ca():
        with submission() as c:
            c.starttls(context=other)

    def smtps_other_ca():
        with smtps(other):
            pass

    # 5. plain smtp: no TLS, no AUTH, mail from 127.0.0.1 accepted.
    def plain_send():
        with smtplib.SMTP(host, smtp_port, timeout=TIMEOUT) as c:
            features = ehlo_features(c)
            for unwanted in ("auth", "starttls"):
                if unwanted in features:
                    raise AssertionError(f"plain port offers {unwanted.upper()}")
            _, path = send_and_find(c, "plain")
            return f"no AUTH, no STARTTLS, message in {os.path.relpath(path, maildir)}"

    checks.run("submission: EHLO before STARTTLS lists STARTTLS and not AUTH", sub_ehlo_before_tls)
    checks.run("submission: MAIL FROM before STARTTLS is refused", sub_mail_before_tls_refused)
    checks.run("submission: after STARTTLS, EHLO lists AUTH PLAIN LOGIN", sub_ehlo_after_tls)
    checks.run("submission: RCPT without AUTH is refused", sub_unauthenticated_refused)
    checks.run("submission: AUTH PLAIN, message to reader@example.org delivered", sub_auth("PLAIN"))
    checks.run("submission: AUTH LOGIN, message to reader@example.org delivered", sub_auth("LOGIN"))
    checks.run("submission: wrong password (PLAIN) gives 535", wrong_password(sub_tls, "PLAIN"))
    checks.run("submission: wrong password (LOGIN) gives 535", wrong_password(sub_tls, "LOGIN"))
    checks.run("smtps: implicit TLS to 127.0.0.1, AUTH, message delivered", smtps_send(host))
    checks.run("smtps: implicit TLS to localhost, AUTH, message delivered", smtps_send("localhost"))
    checks.run("smtps: RCPT without AUTH is refused", smtps_unauthenticated_refused)
    checks.run("smtps: wrong password gives 535", wrong_password(lambda: smtps(good), "PLAIN"))
    checks.run("submission: a context trusting only other-ca.pem fails verification", untrusted(sub_other_ca))
    checks.run("smtps: a context trusting only other-ca.pem fails verification", untrusted(smtps_other_ca))
    checks.run("smtp: plain port, no AUTH, message delivered", plain_send)

    print(f"selftest: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    socket.setdefaulttimeout(TIMEOUT)
    sys.exit(main())
