/* fuzz_http.c -- libFuzzer target for examples/http.h's http_parse, the
   request head parser http_server and https_server share.

   Build and run (tests/fuzz/README.md): make fuzz FUZZ_NAMES=http, or
   by hand, from the seeds in tests/fuzz/corpus/http (good requests,
   pipelined ones, and each kind the servers refuse):
       make build/fuzz/fuzz_http
       mkdir -p build/fuzz/corpus/http
       build/fuzz/fuzz_http -runs=10000000 -max_len=320 build/fuzz/corpus/http tests/fuzz/corpus/http
   -max_len=320 is room for a head of more than HTTP_MAX_FIELDS fields
   (431); longer inputs show the parser nothing new and cost the square
   of their length in the split check below.

   Besides memory errors it checks what the servers rely on:
   - the verdict is one of the statuses the handler knows;
   - a parsed request lies inside its head, and its head inside the
     buffer: the head ends with the empty line, the method is a token,
     no value holds CR, LF or NUL (nothing can smuggle a line), the body
     is within the limit, there is a Host in HTTP/1.1;
   - the bytes cut in two at every point and fed as the server feeds
     them (parse the first part; if that needs more, parse both) get the
     verdict of the bytes in one piece: no framing depends on how the
     bytes arrived.  Each part is parsed where it ends at its buffer's
     end, so ASan sees a read past it;
   - the verdict changes only when a LF arrives (the server parses only
     then): the parse of the bytes without their last byte, when that is
     no LF, is the same;
   - a parsed request's head alone parses the same (nothing after it
     counts), and the requests pipelined after it, walked as the server
     walks them (past each head and its body), are sound too. */
#define HTTP_PARSER_ONLY
#include "http.h"

#include <stdint.h>
#include <stdlib.h>

#define CHECK(c)                                                                                                       \
    do {                                                                                                               \
        if (!(c))                                                                                                      \
            abort();                                                                                                   \
    } while (0)

static int same_span(http_span a, http_span b) { return a.off == b.off && a.len == b.len; }

/* Two verdicts with their requests: the same? */
static int same(int ra, const http_request *a, int rb, const http_request *b)
{
    int i;
    if (ra != rb)
        return 0;
    if (ra != HTTP_OK)
        return 1;
    if (a->head_len != b->head_len || !same_span(a->method, b->method) || !same_span(a->target, b->target) ||
        a->minor != b->minor || a->nfields != b->nfields || a->body != b->body || a->keep_alive != b->keep_alive)
        return 0;
    for (i = 0; i < a->nfields; i++)
        if (!same_span(a->name[i], b->name[i]) || !same_span(a->value[i], b->value[i]))
            return 0;
    return 1;
}

/* http_parse over the first n bytes of data, copied to the end of buf
   (its size bytes allocated): ASan sees a read past the n-th. */
static int parse_prefix(char *buf, size_t size, const uint8_t *data, size_t n, http_request *r)
{
    memcpy(buf + size - n, data, n);
    return http_parse(buf + size - n, n, r);
}

static void check_span(http_span s, size_t limit) { CHECK(s.off <= limit && s.len <= limit - s.off); }

/* A parsed request is what the handler may rely on. */
static void check_request(const char *b, size_t len, const http_request *r)
{
    int i, hosts = 0;
    size_t k;
    CHECK(r->head_len >= 4 && r->head_len <= len);
    CHECK(memcmp(b + r->head_len - 4, "\r\n\r\n", 4) == 0);
    check_span(r->method, r->head_len);
    check_span(r->target, r->head_len);
    CHECK(r->method.len > 0 && r->target.len > 0);
    for (k = 0; k < r->method.len; k++)
        CHECK(is_tchar((unsigned char)b[r->method.off + k]));
    CHECK(r->minor >= 0 && r->minor <= 9);
    CHECK(r->nfields >= 0 && r->nfields <= HTTP_MAX_FIELDS);
    for (i = 0; i < r->nfields; i++) {
        check_span(r->name[i], r->head_len);
        check_span(r->value[i], r->head_len);
        CHECK(r->name[i].len > 0);
        for (k = 0; k < r->value[i].len; k++) {
            char c = b[r->value[i].off + k];
            CHECK(c != '\r' && c != '\n' && c != '\0');
        }
        hosts += word_is(b + r->name[i].off, r->name[i].len, "host");
    }
    CHECK(hosts <= 1 && (r->minor == 0 || hosts == 1));
    CHECK(r->body >= 0 && r->body <= HTTP_MAX_BODY);
    CHECK(r->keep_alive == 0 || r->keep_alive == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static http_request whole, part, next;
    char *buf = (char *)malloc(size ? size : 1);
    int rc, rp, rn;
    size_t k;
    CHECK(buf != NULL);
    rc = http_parse((const char *)data, size, &whole); /* libFuzzer's copy is exactly size bytes */
    CHECK(rc == HTTP_NEED_MORE || rc == HTTP_OK || rc == 400 || rc == 413 || rc == 431 || rc == 501 || rc == 505);
    if (rc == HTTP_OK)
        check_request((const char *)data, size, &whole);
    for (k = 0; k < size; k++) {
        rp = parse_prefix(buf, size, data, k, &part);
        CHECK(rp == HTTP_NEED_MORE || same(rp, &part, rc, &whole));
    }
    if (size > 0 && data[size - 1] != '\n') {
        rp = parse_prefix(buf, size, data, size - 1, &part);
        CHECK(same(rp, &part, rc, &whole));
    }
    if (rc == HTTP_OK) { /* its head alone gets the same verdict: nothing after it counts */
        rp = parse_prefix(buf, size, data, whole.head_len, &part);
        CHECK(same(rp, &part, rc, &whole));
    }
    /* the requests pipelined after it, walked as the server walks them */
    next = whole;
    for (k = 0, rn = rc; rn == HTTP_OK && (size_t)next.body <= size - k - next.head_len;) {
        k += next.head_len + (size_t)next.body;
        if ((rn = http_parse((const char *)data + k, size - k, &next)) == HTTP_OK)
            check_request((const char *)data + k, size - k, &next);
    }
    free(buf);
    return 0;
}
