"""A real SMTP server on loopback for the `email.send` tests (aiosmtpd).

Binds 127.0.0.1 on a free port, prints `PORT <n>` on stdout, and writes every accepted message
to --dir as `<n>.eml` (the DATA as received) and `<n>.json` (envelope sender, recipients and the
login that authenticated). Options make it require AUTH, offer and require STARTTLS, speak TLS
from the first byte, or answer DATA with an error code for the first messages.
"""

import argparse
import asyncio
import json
import os
import socket
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--auth", help="USER:PASSWORD that must authenticate")
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--fail-code", type=int, default=0, help="reply to DATA with this code")
    p.add_argument("--fail-first", type=int, default=0, help="for this many messages")
    return p.parse_args()


class Sink:
    def __init__(self, args):
        self.args = args
        self.seen = 0
        self.stored = 0

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.args.fail_code and self.seen <= self.args.fail_first:
            return f"{self.args.fail_code} sink told to refuse message {self.seen}"
        self.stored += 1
        n = self.stored
        with open(os.path.join(self.args.dir, f"{n}.eml.tmp"), "wb") as f:
            f.write(envelope.original_content or envelope.content)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": login,
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
        }
        with open(os.path.join(self.args.dir, f"{n}.json"), "w") as f:
            json.dump(meta, f)
        # The .eml appears last and whole: the test waits for it.
        os.rename(os.path.join(self.args.dir, f"{n}.eml.tmp"), os.path.join(self.args.dir, f"{n}.eml"))
        return "250 OK stored"


def context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


async def main():
    args = parse_args()
    sink = Sink(args)
    user, password = (args.auth.split(":", 1) if args.auth else (None, None))

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # handled=False: aiosmtpd then answers 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def factory():
        kwargs = dict(hostname="sink.test", auth_require_tls=False)
        if args.auth:
            kwargs.update(authenticator=authenticator, auth_required=True)
        if args.starttls:
            kwargs.update(tls_context=context(*args.starttls), require_starttls=True)
        return SMTP(sink, **kwargs)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server_ssl = context(*args.tls) if args.tls else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, sock=sock, ssl=server_ssl)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    # Exit when the test harness goes away (stdin closes).
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
