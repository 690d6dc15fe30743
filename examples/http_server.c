/* http_server.c -- a small, fast HTTP/1.1 server with keep-alive, for
   hostile clients too.

   Shows: a protocol server on streams -- each read's bytes go into the
   connection's frame, where a pure parser (http_parse) finds whole
   request heads, so pipelined requests (several in one segment) are
   answered in order; responses are queued in the frame and written with
   one asyncio_stream_write once asyncio_stream_buffered says no request
   is left to read (one write per batch: per request without pipelining);
   drain is awaited only when the client lets the output pile up, so a
   busy connection costs no suspension per request; nothing is allocated
   per request.  The stream's read and write timeouts
   (asyncio_stream_set_timeouts) bound what a client may take.  The
   parser and handler live in http.h, which https_server serves over TLS
   unchanged.

   Mirrors (a hand-written asyncio server, minus the details):

       async def handle(reader, writer):
           out, buf, deadline = bytearray(), b"", now() + HEADER_TIMEOUT
           while True:
               verdict, req = parse(buf)          # need more, refuse, or a request
               if verdict == NEED_MORE:
                   if not reader._buffer:         # the next read may wait:
                       writer.write(out)          # send the batch
                       out.clear()
                       if writer.transport.get_write_buffer_size() > 65536:
                           await writer.drain()   # fails after the write timeout
                   wait = KEEPALIVE_TIMEOUT if deadline is None else deadline - now()
                   try:
                       data = await asyncio.wait_for(reader.read(8192), wait)
                   except TimeoutError:
                       break                      # (a 408 if part of a head came)
                   if not data:
                       break                      # client gone
                   buf += data
                   deadline = deadline or now() + HEADER_TIMEOUT
                   continue
               out += response(verdict, req)      # 200, 405, or a refusal
               if verdict != 200 or not req.keep_alive:
                   break
               buf, deadline = buf[req.head_len:], None  # (and the body skipped)
           writer.write(out)
           writer.close()

       server = await asyncio.start_server(handle, host, port)

   Run:    make examples && build/examples/http_server [-j LOOPS] 8080 [HOST]
           (PORT 0 picks a free port; HOST defaults to 127.0.0.1; -j runs
           a loop on each of LOOPS threads, all accepting on the port;
           timeouts in seconds: --header-timeout S, --keepalive-timeout S,
           --write-timeout S, see below)
           curl -i http://127.0.0.1:8080/
           wrk -t1 -c50 -d3s http://127.0.0.1:8080/

   Prints once it listens, then runs until Ctrl-C / SIGTERM (exit 0):
       listening on 127.0.0.1:8080

   Every GET (or HEAD) of any path gets
       HTTP/1.1 200 OK
       Content-Type: text/plain
       Content-Length: 14

       Hello, World!
   HTTP/1.1 keeps the connection open unless the request says
   "Connection: close"; HTTP/1.0 closes it unless the request says
   "Connection: keep-alive".  A request body (Content-Length, up to 1 MiB)
   is read and ignored.  Other methods get 405 (the connection stays).
   Refused, then closed (once the client stops sending: 0.5 s without
   more, the header timeout at most): 400 for a malformed request --
   among them what lets a proxy and this server frame the bytes
   differently (request smuggling): a bare LF or CR, CR / LF / NUL or
   another control character in a field value, obs-fold, whitespace
   before a field's colon, a Content-Length that is not a number or
   differs from another, Transfer-Encoding in HTTP/1.0, with
   Content-Length or not ending in chunked, HTTP/1.1 without Host, two
   Hosts; 413 for a body over 1 MiB, 431 for a head over 8 KiB or 64
   fields, 501 for Transfer-Encoding chunked, 505 for HTTP/2+ on this
   text protocol.
   Timeouts: a request must arrive, head and body, within
   --header-timeout S (10) from its first byte -- the connection's first
   one from the connection: a drip-fed head is answered 408 and closed
   however it keeps sending; between requests a kept-alive connection may
   stay silent --keepalive-timeout S (60); a client that takes none of
   its responses for --write-timeout S (60) is dropped. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve.h" /* PORT [HOST], start the server, stop on SIGINT / SIGTERM */
#include "http.h"  /* the request parser, the connection handler, the timeout options (shared with https_server) */

#define PROGRAM "http_server"

int main(int argc, char **argv) { return http_main(argc, argv, PROGRAM, SERVE_PLAIN); }
