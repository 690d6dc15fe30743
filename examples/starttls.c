/* starttls.c -- STARTTLS: a line protocol that starts in plain text and
   switches to TLS in the middle of the conversation, both ends in one
   program.

   Shows: asyncio_stream_start_tls (Python's StreamWriter.start_tls) on
   both sides of one connection: the server answers "OK" to the client's
   "STARTTLS" and starts TLS right after (the "OK" is flushed first), the
   client starts it once it has read the "OK"; each awaits its handshake,
   then the same readline / write calls carry encrypted lines.  A second
   client that expects another host's certificate sees its handshake fail
   with ASYNCIO_ETLSVERIFY and Python's message; the server's handshake
   fails with it and that connection ends.  asyncio_stream_tls_version /
   _cipher say what was agreed (Python's ssl_object.version() / cipher()).

   Mirrors:

       async def handle(reader, writer):              # the server
           writer.write(b"HELLO plain text here; send STARTTLS to encrypt\n")
           while line := await reader.readline():
               cmd = line.strip()
               ssl = writer.get_extra_info("ssl_object")
               if cmd == b"STARTTLS" and not ssl:
                   writer.write(b"OK\n")
                   try:
                       await writer.start_tls(server_ctx)
                   except (ssl.SSLError, OSError):
                       break
               elif cmd == b"STATUS":
                   writer.write(f"ENCRYPTED {ssl.version()} {ssl.cipher()[0]}\n".encode()
                                if ssl else b"PLAIN anyone on the path can read this\n")
               elif cmd == b"QUIT":
                   writer.write(b"BYE\n")
                   break
               else:
                   writer.write(b"ERR unknown command\n")
           writer.close()

       async def client(port, hostname, status_first):
           reader, writer = await asyncio.open_connection("127.0.0.1", port)
           async def say(cmd=None):
               if cmd:
                   print(f"C: {cmd}")
                   writer.write(f"{cmd}\n".encode())
               print(f"S: {(await reader.readline()).decode().rstrip()}")
           await say()                                  # the greeting
           if status_first:
               await say("STATUS")
           await say("STARTTLS")
           try:
               await writer.start_tls(client_ctx, server_hostname=hostname)
           except ssl.SSLCertVerificationError as e:
               print(f"-- TLS handshake failed: {e}")
               return
           ssl = writer.get_extra_info("ssl_object")
           print(f"-- TLS handshake done: {ssl.version()}, {ssl.cipher()[0]}; "
                 f"the certificate is valid for {hostname}")
           await say("STATUS")
           await say("QUIT")
           writer.close()                               # in a finally:
           await writer.wait_closed()

       async def main():
           server = await asyncio.start_server(handle, "127.0.0.1", 0)
           port = server.sockets[0].getsockname()[1]
           print("-- a client that trusts the certificate, for localhost:")
           await client(port, "localhost", True)
           print("-- a client that expects the certificate of other.example:")
           await client(port, "other.example", False)
           server.close()
           await server.wait_closed()

       # a throwaway self-signed certificate for localhost (Python: the
       # trustme package), trusted by the client and nothing else
       server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
       server_ctx.load_cert_chain(pem_file)
       client_ctx = ssl.create_default_context(cafile=pem_file)
       asyncio.run(main())

   Run:    make examples && build/examples/starttls      (no arguments)

   Prints (the version and cipher are what the OpenSSL at hand agrees):
       -- a client that trusts the certificate, for localhost:
       S: HELLO plain text here; send STARTTLS to encrypt
       C: STATUS
       S: PLAIN anyone on the path can read this
       C: STARTTLS
       S: OK
       -- TLS handshake done: TLSv1.3, TLS_AES_256_GCM_SHA384; the certificate is valid for localhost
       C: STATUS
       S: ENCRYPTED TLSv1.3 TLS_AES_256_GCM_SHA384
       C: QUIT
       S: BYE
       -- a client that expects the certificate of other.example:
       S: HELLO plain text here; send STARTTLS to encrypt
       C: STARTTLS
       S: OK
       -- TLS handshake failed: TLS handshake: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid for 'other.example'.
   and exits 0.  The certificate (an EC P-256 key, self-signed, for
   localhost, valid for an hour) is made with OpenSSL's API at start, in
   a file in TMPDIR (or /tmp) that is deleted as soon as both contexts
   have loaded it.  Built with ASYNCIO_TLS=1 and -lssl -lcrypto (the
   Makefile does).  Real clock only: under ASYNCIO_VIRTUAL_CLOCK=1 time
   jumps to the handshake timeout whenever the sockets make the loop
   wait. */
#ifndef ASYNCIO_TLS
#define ASYNCIO_TLS 1 /* this example speaks TLS: link with -lssl -lcrypto */
#endif
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define PROGRAM "starttls"
#define HOSTNAME "localhost" /* the certificate's name */

static asyncio_tls *server_ctx, *client_ctx;

/* ---- the server --------------------------------------------------------- */

typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
    int rc;
} line_conn_t;

/* Queue one reply line. */
static int reply(asyncio_stream *s, const char *text)
{
    int rc = asyncio_stream_write(s, text, strlen(text));
    return rc < 0 ? rc : asyncio_stream_write(s, "\n", 1);
}

/* Is the line just read (n bytes with its "\r\n" or "\n") the command cmd? */
static int is_command(const char *line, size_t n, const char *cmd)
{
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    return n == strlen(cmd) && memcmp(line, cmd, n) == 0;
}

/* async def handle(reader, writer) */
static int handle(asyncio_task *self, void *frame)
{
    line_conn_t *f = (line_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    const char *line;
    size_t n;
    char status[160];
    ASYNCIO_BEGIN(self, &f->base);
    reply(s, "HELLO plain text here; send STARTTLS to encrypt");
    for (;;) {
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, s));
        if (f->rc < 0 || ASYNCIO_RESULT().i == 0) /* a failure, or the client is gone */
            break;
        line = asyncio_stream_data(s); /* valid until the next read */
        n = (size_t)ASYNCIO_RESULT().i;
        if (is_command(line, n, "STARTTLS") && !asyncio_stream_tls(s)) {
            reply(s, "OK");
            /* await writer.start_tls(server_ctx): "OK" goes out first, in
               plain text; whatever the client sent after its STARTTLS line
               is the start of its handshake */
            ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_start_tls(s, server_ctx, NULL));
            if (f->rc < 0) /* the client gave up on the handshake */
                break;
        } else if (is_command(line, n, "STATUS")) {
            if (asyncio_stream_tls(s))
                snprintf(status, sizeof status, "ENCRYPTED %s %s", asyncio_stream_tls_version(s),
                         asyncio_stream_tls_cipher(s));
            else
                snprintf(status, sizeof status, "PLAIN anyone on the path can read this");
            reply(s, status);
        } else if (is_command(line, n, "QUIT")) {
            reply(s, "BYE");
            break;
        } else
            reply(s, "ERR unknown command");
    }
    ASYNCIO_END(); /* the server flushes and closes the connection (close_notify first, under TLS) */
}

/* ---- the client --------------------------------------------------------- */

/* say(cmd): send the command line cmd (NULL: none) and print it, then
   read and print the reply line. */
typedef struct {
    asyncio_coro co;
    asyncio_stream *s;
    const char *cmd;
    asyncio_read_t rd;
} say_t;

static int say(asyncio_task *self, void *frame)
{
    say_t *f = (say_t *)frame;
    size_t n;
    ASYNCIO_BEGIN(self, f);
    if (f->cmd) {
        printf("C: %s\n", f->cmd);
        if (asyncio_stream_write(f->s, f->cmd, strlen(f->cmd)) < 0 || asyncio_stream_write(f->s, "\n", 1) < 0)
            ASYNCIO_RAISE(-EPIPE, "cannot send the command");
    }
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    n = (size_t)ASYNCIO_RESULT().i;
    if (n == 0)
        ASYNCIO_RAISE(ASYNCIO_EINCOMPLETE, "the server closed the connection");
    while (n > 0 && (asyncio_stream_data(f->s)[n - 1] == '\n' || asyncio_stream_data(f->s)[n - 1] == '\r'))
        n--;
    printf("S: %.*s\n", (int)n, asyncio_stream_data(f->s));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int port, status_first;
    const char *hostname; /* the name the certificate must be valid for */
    asyncio_connect_t oc;
    asyncio_stream *s;
    say_t say;
    int rc;
    asyncio_finally fin;
} client_t;

static int client(asyncio_task *self, void *frame)
{
    client_t *f = (client_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    f->say.s = f->s;
    f->say.cmd = NULL; /* the greeting */
    ASYNCIO_AWAIT_CORO(say, &f->say);
    if (f->status_first) {
        f->say.cmd = "STATUS";
        ASYNCIO_AWAIT_CORO(say, &f->say);
    }
    f->say.cmd = "STARTTLS";
    ASYNCIO_AWAIT_CORO(say, &f->say);
    /* await writer.start_tls(client_ctx, server_hostname=hostname) */
    ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_start_tls(f->s, client_ctx, f->hostname));
    if (f->rc < 0) {
        printf("-- TLS handshake failed: %s\n", ASYNCIO_ERRMSG());
        ASYNCIO_RETURN(asyncio_int(f->rc));
    }
    printf("-- TLS handshake done: %s, %s; the certificate is valid for %s\n", asyncio_stream_tls_version(f->s),
           asyncio_stream_tls_cipher(f->s), f->hostname);
    f->say.cmd = "STATUS";
    ASYNCIO_AWAIT_CORO(say, &f->say);
    f->say.cmd = "QUIT";
    ASYNCIO_AWAIT_CORO(say, &f->say);
    ASYNCIO_FINALLY_ASYNC(f->fin) { /* writer.close(); await writer.wait_closed() */
        if (f->s) {
            ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_close(f->s)); /* close_notify first, under TLS */
        }
        f->s = NULL;
    }
    ASYNCIO_END();
}

/* ---- main: the server and two clients on one loop ---------------------- */

typedef struct {
    asyncio_coro co;
    asyncio_server srv;
    client_t trusting, other;
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    int rc;
    ASYNCIO_BEGIN(self, f);
    if ((rc = asyncio_start_server(&f->srv, ASYNCIO_LOOP(), handle, sizeof(line_conn_t), "127.0.0.1", 0)) < 0)
        ASYNCIO_RAISE(rc, asyncio_errmsg());
    printf("-- a client that trusts the certificate, for %s:\n", HOSTNAME);
    f->trusting.port = asyncio_server_port(&f->srv);
    f->trusting.hostname = HOSTNAME;
    f->trusting.status_first = 1;
    ASYNCIO_AWAIT_CORO(client, &f->trusting);
    printf("-- a client that expects the certificate of other.example:\n");
    f->other.port = asyncio_server_port(&f->srv);
    f->other.hostname = "other.example";
    ASYNCIO_AWAIT_CORO(client, &f->other);
    /* server.close(); await server.wait_closed(): until the server's side
       of each connection is closed too (the second one hears of the
       failed handshake a moment after the client) */
    asyncio_server_close(&f->srv);
    while (f->srv.nconns > 0) {
        ASYNCIO_SLEEP(0.001);
    }
    ASYNCIO_FINALLY;
    if (f->srv.loop) /* on an error or a cancellation: closing twice is harmless */
        asyncio_server_close(&f->srv);
    ASYNCIO_END();
}

/* ---- a throwaway certificate (OpenSSL's API; nothing of asyncio) -------- */

/* Write a new EC P-256 key and a self-signed certificate for HOSTNAME,
   valid for an hour, to fp as PEM.  0, or -1. */
static int write_certificate(FILE *fp)
{
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    EVP_PKEY *key = NULL;
    X509 *x = X509_new();
    X509_EXTENSION *san = NULL;
    X509_NAME *name;
    int ok = kc && x && EVP_PKEY_keygen_init(kc) > 0 &&
             EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kc, NID_X9_62_prime256v1) > 0 && EVP_PKEY_keygen(kc, &key) > 0;
    if (ok) {
        name = X509_get_subject_name(x);
        ok = X509_set_version(x, 2) && ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -60) && X509_gmtime_adj(X509_getm_notAfter(x), 3600) &&
             X509_set_pubkey(x, key) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)HOSTNAME, -1, -1, 0) &&
             X509_set_issuer_name(x, name) &&
             (san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:" HOSTNAME)) != NULL &&
             X509_add_ext(x, san, -1) && X509_sign(x, key, EVP_sha256()) > 0 &&
             PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL) && PEM_write_X509(fp, x);
    }
    X509_EXTENSION_free(san);
    X509_free(x);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(kc);
    return ok ? 0 : -1;
}

/* server_ctx serves the certificate, client_ctx trusts it and nothing
   else.  0, or -1 (the reason on stderr). */
static int make_contexts(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    asyncio_tls_options o;
    FILE *fp = NULL;
    int fd, rc = -1;
    snprintf(path, sizeof path, "%s/starttls-XXXXXX", dir && *dir ? dir : "/tmp");
    if ((fd = mkstemp(path)) < 0 || !(fp = fdopen(fd, "w"))) {
        fprintf(stderr, "%s: %s: %s\n", PROGRAM, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (write_certificate(fp) < 0 || fclose(fp) != 0)
        fprintf(stderr, "%s: cannot make a certificate\n", PROGRAM);
    else {
        memset(&o, 0, sizeof o);
        o.certfile = path; /* the key is in the same file */
        if (asyncio_tls_server(&server_ctx, &o) == 0) {
            memset(&o, 0, sizeof o);
            o.cafile = path;
            rc = asyncio_tls_client(&client_ctx, &o);
        }
        if (rc < 0)
            fprintf(stderr, "%s: %s\n", PROGRAM, asyncio_errmsg());
        fp = NULL;
    }
    if (fp)
        fclose(fp);
    unlink(path); /* loaded: the file is not needed any more */
    return rc < 0 ? -1 : 0;
}

int main(void)
{
    static main_t m;
    asyncio_outcome out;
    int rc;
    if (make_contexts() < 0)
        return 1;
    rc = asyncio_run(main_coro, &m, &out);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", PROGRAM, out.msg);
    asyncio_tls_free(client_ctx);
    asyncio_tls_free(server_ctx);
    return rc < 0 ? 1 : 0;
}
