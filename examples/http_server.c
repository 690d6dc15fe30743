/* http_server.c -- a small, fast HTTP/1.1 server with keep-alive.

   Shows: a protocol server on streams -- readuntil("\r\n\r\n") takes one
   request head at a time out of the stream's buffer, so pipelined
   requests (several in one segment) are answered in order; responses are
   queued in the connection's frame and written with one
   asyncio_stream_write once asyncio_stream_buffered says no request is
   left to read (one write per batch: per request without pipelining);
   drain is awaited only when the client lets the output pile up, so a
   busy connection costs no suspension per request; nothing is allocated
   per request.  The handler lives in http.h, which https_server serves
   over TLS unchanged.

   Mirrors (a hand-written asyncio server, minus the details):

       async def handle(reader, writer):
           out = bytearray()
           while True:
               if not reader._buffer:             # the next read may wait:
                   writer.write(out)              # send the batch
                   out.clear()
                   if writer.transport.get_write_buffer_size() > 65536:
                       await writer.drain()
               try:
                   head = await reader.readuntil(b"\r\n\r\n")
               except asyncio.IncompleteReadError:
                   break                          # client gone
               method, keep_alive, status = parse(head)
               out += response(status, keep_alive, method == "HEAD")
               if not keep_alive:
                   break
           writer.write(out)
           writer.close()

       server = await asyncio.start_server(handle, host, port)

   Run:    make examples && build/examples/http_server [-j LOOPS] 8080 [HOST]
           (PORT 0 picks a free port; HOST defaults to 127.0.0.1; -j runs
           a loop on each of LOOPS threads, all accepting on the port)
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
   "Connection: keep-alive".  A request body (Content-Length) is read and
   ignored.  Errors: 400 for a malformed request (closes), 405 for other
   methods, 431 for a head over 8 KiB, 501 for Transfer-Encoding, 505 for
   HTTP/2+ on this text protocol (all but 405 close the connection). */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"  /* handle_http: the connection handler (shared with https_server) */
#include "serve.h" /* PORT [HOST], start the server, stop on SIGINT / SIGTERM */

#define PROGRAM "http_server"

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
    build_responses();
    return serve_main(argc, argv, PROGRAM, handle_http, sizeof(http_conn_t), SERVE_MAX_LOOPS, SERVE_PLAIN);
}
