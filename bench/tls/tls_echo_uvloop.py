"""tls_echo_uvloop.py -- tls_echo_asyncio.py's server, run on uvloop.

    python3 tls_echo_uvloop.py PORT CERTFILE KEYFILE   (127.0.0.1:PORT until killed)

The same coroutine code (imported from tls_echo_asyncio.py), with
uvloop.install() making asyncio.run() use uvloop's loop, whose SSL
transport (its own sslproto, in Cython) also drives OpenSSL through memory
BIOs.  Needs uvloop (Debian: apt-get install python3-uvloop, for
/usr/bin/python3).
"""
import os
import sys

import uvloop

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tls_echo_asyncio  # noqa: E402

if __name__ == "__main__":
    uvloop.install()
    tls_echo_asyncio.run(sys.argv)
