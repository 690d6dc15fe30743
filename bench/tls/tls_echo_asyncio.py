"""tls_echo_asyncio.py -- TLS echo server on the standard asyncio streams.

    python3 tls_echo_asyncio.py PORT CERTFILE KEYFILE   (127.0.0.1:PORT until killed)

bench/net/echo_asyncio.py's server (start_server, reader.read(65536),
writer.write, await writer.drain()) with ssl= a server context holding the
certificate and its key (ssl.SSLContext(PROTOCOL_TLS_SERVER) defaults
otherwise).  asyncio's SSL transport drives OpenSSL through memory BIOs
(sslproto.py).  tls_echo_uvloop.py runs this same code on uvloop.
"""
import asyncio
import ssl
import sys


async def handle(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def context(certfile, keyfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


async def main(port, certfile, keyfile):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024,
                                        ssl=context(certfile, keyfile))
    print("listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def run(argv):
    if len(argv) != 4:
        sys.exit("usage: %s PORT CERTFILE KEYFILE" % argv[0])
    try:
        asyncio.run(main(int(argv[1]), argv[2], argv[3]))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    run(sys.argv)
