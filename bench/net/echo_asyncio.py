"""echo_asyncio.py -- TCP echo server on the standard asyncio streams.

    python3 echo_asyncio.py PORT      (listens on 127.0.0.1:PORT until killed)

asyncio.start_server + reader.read / writer.write / await writer.drain(), the
way the asyncio documentation writes an echo server.  asyncio sets
TCP_NODELAY on its TCP transports itself.  echo_uvloop.py runs this same
code with uvloop installed as the event loop.
"""
import asyncio
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


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def run(port):
    try:
        asyncio.run(main(port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: echo_asyncio.py PORT")
    run(int(sys.argv[1]))
