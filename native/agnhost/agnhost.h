/*
 * agnhost-netexec: a native build of podnet's agnhost `netexec` (src/agent/agnhost/netexec.ts).
 *
 * Every agnhost pod used to be a Node.js start (~150 ms of CPU, ~40 MB RSS), which made starting
 * a hundred pods CPU-bound. This program answers exactly like the TypeScript netexec, which in
 * turn mimics upstream Go's net/http, pflag and log output; anything it does not handle (TLS,
 * --help, flag errors) it hands to the TypeScript implementation with execv, so error texts and
 * usage stay identical.
 *
 * Strings from clients are (pointer, length) pairs: a decoded %00 is a valid byte anywhere.
 */
#ifndef AGNHOST_H
#define AGNHOST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <sys/socket.h>

/* Request bodies above this are refused (as readBody() in common.ts). */
#define BODY_LIMIT ((size_t)64 << 20)
/* Request line plus headers, as Node's default --max-http-header-size. */
#define HEADER_LIMIT 16384
/* Node's server.maxHeadersCount: later headers are dropped, not refused. */
#define MAX_HEADERS 2000

/* ---- growable byte buffer; always NUL-terminated for convenience, may hold NULs ---- */
typedef struct {
  char *p;
  size_t n, cap;
} buf_t;

void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_reset(buf_t *b);
void buf_reserve(buf_t *b, size_t extra);
void buf_add(buf_t *b, const void *p, size_t n);
void buf_adds(buf_t *b, const char *s);
void buf_addc(buf_t *b, char c);
void buf_move(buf_t *dst, buf_t *src);
/*
 * printf-like into a buffer, with only these conversions (client strings may hold NULs):
 * %s C string, %S buf_t *, %V (const char *, size_t), %d int, %L long long, %%.
 */
void bf(buf_t *b, const char *fmt, ...);
void vbf(buf_t *b, const char *fmt, va_list ap);

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* ---- logging (Go's log package format) ---- */
void logmsg(const char *fmt, ...);
void logbuf(const buf_t *msg);
_Noreturn void fatal(const char *fmt, ...);

/* ---- text helpers ---- */
int is_tchar(unsigned char c);
int is_word(unsigned char c);
int ci_prefix(const char *s, size_t n, const char *prefix);
int ci_equal(const char *a, size_t an, const char *b);
const char *ci_find(const char *hay, size_t hn, const char *needle);
int bytes_eq(const char *a, size_t an, const char *b, size_t bn);
void utf8_sanitize(buf_t *out, const char *s, size_t n);
int uri_decode(buf_t *out, const char *s, size_t n);
void js_json_str(buf_t *out, const char *s, size_t n);
void go_json_str(buf_t *out, const char *s, size_t n);
int js_atoi(const char *s, size_t n, long long *out);
int go_duration_ms(const char *s, size_t n, double *ms, buf_t *err);
void clean_path(buf_t *out, const char *p, size_t n);
const char *status_text(int code, char *tmp, size_t tmpn);
const char *sniff_content_type(const char *body, size_t n);
void http_date(char out[40]);
/* CLOCK_MONOTONIC in milliseconds, for deadlines */
int64_t now_ms(void);
void go_now(buf_t *out);
void host_port(char *out, size_t outn, const struct sockaddr *sa);
const char *errno_text(int e);
const char *errno_name(int e);
const char *bind_error_text(int e);
const char *uv_errno_text(int e);
void process_start_init(void);
int is_ip_literal(const char *s, int *family);
void json_map_key_sort(char **keys, size_t n);
void utf8_trim_lower(buf_t *out, const char *s, size_t n);
uint32_t random_u32(void);

/* ---- query strings (Go's url.ParseQuery as common.ts's parseQuery) ---- */
/* The first value of `key` in the query `q`; 1 when present. */
int query_get(const char *q, size_t qn, const char *key, buf_t *val);

/* ---- WHATWG URLs, as much as /dial and absolute-form targets need ---- */
typedef struct {
  buf_t scheme;   /* lower case, no ':' */
  buf_t userinfo; /* "user:pass" as given, or empty */
  buf_t host;     /* serialized: a.b.c.d, [v6], lower-case name */
  int port;       /* -1: none (or the scheme's default) */
  buf_t path;     /* percent-encoded, starts with '/' */
  int has_query;
  buf_t query;    /* without '?' */
  int has_frag;
  buf_t frag;
} url_t;

void url_init(url_t *u);
void url_free(url_t *u);
int url_parse(url_t *u, const char *s, size_t n, const url_t *base);
void url_href(const url_t *u, buf_t *out);
void url_hostport(const url_t *u, buf_t *out); /* URL.host */
void url_hostname(const url_t *u, buf_t *out); /* URL.hostname, brackets stripped */

/* ---- HTTP server pieces ---- */
typedef struct {
  const char *name;
  size_t nlen;
  const char *val;
  size_t vlen;
} hdr_t;

typedef struct {
  /* as received */
  const char *method;
  size_t method_len;
  const char *target;
  size_t target_len;
  int minor;
  hdr_t *hdrs;
  size_t nhdr;
  buf_t body;
  const char *ctype;
  size_t ctype_len;
  char remote[80];
  int head;
  /* as the handlers see it: the real request, or the synthetic one of --http-override */
  const char *hmethod;
  size_t hmethod_len;
  buf_t path;
  buf_t rawq;
  int synthetic;
} req_t;

typedef struct {
  int code;
  buf_t hdrs; /* "Name: value\r\n" lines, in the order set */
  int has_ctype;
  buf_t body;
  int destroy;   /* drop the connection without a response */
  int responded;
} resp_t;

void resp_send(resp_t *r, int code, const char *body, size_t n);
void resp_send_buf(resp_t *r, int code, buf_t *body);
void resp_header(resp_t *r, const char *name, const char *val, size_t vn);
void http_error(resp_t *r, const char *msg, size_t n, int code);
void http_redirect(const req_t *q, resp_t *r, const char *loc, size_t ln, int code, buf_t *panic);

/* ---- netexec ---- */
struct netexec_opts {
  int http_port;
  int udp_port;
  long long sctp_port;
  long long delay_shutdown;
  const char *http_override;
};

extern struct netexec_opts opts;
extern atomic_int server_ready;
extern atomic_int sigterm_received;

void serve_request(req_t *q, resp_t *r, buf_t *panic);
void get_hostname(buf_t *out);
/* /exit's graceful path: stop accepting, close idle connections, exit once none is left */
void graceful_exit(int code, double timeout_ms);
_Noreturn void exit_now(int code);

/* /dial */
void dial_handler(req_t *q, resp_t *r);

/* the HTTP server loop (http.c) */
int http_listen(int port, buf_t *err);
void http_serve(int lfd);
void http_stop_accepting(void);
void http_close_idle(void);

#endif
