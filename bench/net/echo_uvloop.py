"""echo_uvloop.py -- echo_asyncio.py's server, run on uvloop.

    python3 echo_uvloop.py PORT       (listens on 127.0.0.1:PORT until killed)

The same coroutine code as echo_asyncio.py (imported from it), with
uvloop.install() making asyncio.run() use uvloop's libuv-based loop.
Needs uvloop (Debian: apt-get install python3-uvloop, for /usr/bin/python3).
"""
import os
import sys

import uvloop

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import echo_asyncio  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: echo_uvloop.py PORT")
    uvloop.install()
    echo_asyncio.run(int(sys.argv[1]))
