/* https_server.c -- http_server over TLS: the same HTTP/1.1 handler with
   keep-alive and pipelining, each connection encrypted.

   Shows: asyncio_tls_server (a server context from a certificate chain
   and its key, Python's SSLContext.load_cert_chain) and
   asyncio_server_options.tls (start_server's ssl=): every connection
   shakes hands before its handler starts, and the handler -- http.h's,
   unchanged from http_server -- reads and writes plain bytes on a TLS
   stream exactly as on a TCP one.  A client that fails the handshake is
   closed without ever reaching the handler; closing a connection sends
   TLS's close_notify.  -j N: one context serves every loop.

   Mirrors:

       async def handle(reader, writer):
           ...                                    # http_server's handler

       async def main(port, cert, key, host="127.0.0.1"):
           ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
           ctx.load_cert_chain(cert, key)
           server = await asyncio.start_server(handle, host, port, ssl=ctx)
           print(f"listening on {host}:{server.sockets[0].getsockname()[1]}",
                 flush=True)
           ...                                    # until SIGINT / SIGTERM

   Run:    make examples
           openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
               -nodes -days 1 -subj /CN=localhost -keyout key.pem \
               -out cert.pem -addext subjectAltName=DNS:localhost
           build/examples/https_server [-j LOOPS] 8443 cert.pem key.pem [HOST]
           (PORT 0 picks a free port; HOST defaults to 127.0.0.1; -j runs
           a loop on each of LOOPS threads, all accepting on the port)
           curl --cacert cert.pem https://localhost:8443/
           wrk -t1 -c50 -d3s https://127.0.0.1:8443/
           openssl s_client -connect 127.0.0.1:8443 -CAfile cert.pem
           build/examples/fetch --cacert cert.pem https://localhost:8443/

   Prints once it listens, then runs until Ctrl-C / SIGTERM (exit 0):
       listening on 127.0.0.1:8443
   and answers as http_server does ("Hello, World!" to any GET), refusing
   what it refuses, with its timeout options (--header-timeout S also
   bounds the TLS handshake).  A certificate or key that cannot be
   loaded (or do not match) is reported before it listens, with
   OpenSSL's reason, and the exit status is 1:
       https_server: tls_server: cannot load the private key: ... */
#ifndef ASYNCIO_TLS
#define ASYNCIO_TLS 1 /* this example speaks TLS: link with -lssl -lcrypto */
#endif
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h" /* PORT CERT KEY [HOST], start the server, stop on SIGINT / SIGTERM */
#include "http.h"  /* http_server's parser, connection handler and timeout options */

#define PROGRAM "https_server"

int main(int argc, char **argv) { return http_main(argc, argv, PROGRAM, SERVE_TLS_ALWAYS); }
