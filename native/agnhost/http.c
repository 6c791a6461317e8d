/* The HTTP/1.1 server: a detached thread per connection with blocking I/O, which keeps /dial and
 * /shell (which block) from holding up anyone else. Framing, limits and error answers follow the
 * Node.js server the TypeScript netexec runs on (keep-alive 5 s, 16 KiB of headers, 400/431/408
 * with "Connection: close"), since that is what pods have been answering with. */
#include "agnhost.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define CONN_STACK (256 * 1024)
#define IDLE_FIRST_MS 60000   /* Node's headersTimeout, before a first request */
#define IDLE_KEEPALIVE_MS 5000 /* Node's keepAliveTimeout */
#define HEADERS_MS 60000
#define REQUEST_MS 300000     /* Node's requestTimeout */
#define LINE_LIMIT 4096

/* the answers Node gives before any handler runs */
#define ANSWER_400 "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
#define ANSWER_408 "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"

typedef struct conn {
  int fd;
  char *buf;
  size_t len, cap;
  char remote[80];
  int busy;
  struct conn *prev, *next;
} conn_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slots = PTHREAD_COND_INITIALIZER;
static conn_t *conns;
static int nconns;
static int listen_fd = -1;
static atomic_int closing;

/* ---------------- listening ---------------- */

/* server.listen(port): [::] dual-stack, or 0.0.0.0 when that fails (as Node does). */
int http_listen(int port, buf_t *err) {
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    int off = 0, on = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_any;
    a6.sin6_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&a6, sizeof a6) == 0 && listen(fd, 511) == 0) return fd;
    close(fd);
  }
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int e = errno;
  if (fd >= 0) {
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_addr.s_addr = htonl(INADDR_ANY);
    a4.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&a4, sizeof a4) == 0 && listen(fd, 511) == 0) return fd;
    e = errno;
    close(fd);
  }
  const char *reason = bind_error_text(e);
  if (reason) bf(err, "listen tcp :%d: %s", port, reason);
  else bf(err, "listen tcp :%d: listen %s: %s", port, errno_name(e), uv_errno_text(e));
  return -1;
}

/* ---------------- connection registry (for /exit's graceful shutdown) ---------------- */

void http_stop_accepting(void) {
  atomic_store(&closing, 1);
  pthread_mutex_lock(&mu);
  if (listen_fd >= 0) shutdown(listen_fd, SHUT_RDWR); /* wakes accept() */
  pthread_mutex_unlock(&mu);
}

void http_close_idle(void) {
  pthread_mutex_lock(&mu);
  for (conn_t *c = conns; c; c = c->next)
    if (!c->busy) shutdown(c->fd, SHUT_RDWR);
  pthread_mutex_unlock(&mu);
}

extern void graceful_finish(const char *result);

static void conn_done(conn_t *c) {
  pthread_mutex_lock(&mu);
  if (c->prev) c->prev->next = c->next;
  else conns = c->next;
  if (c->next) c->next->prev = c->prev;
  nconns--;
  int last = atomic_load(&closing) && nconns == 0;
  int idle_now = nconns == 0;
  pthread_cond_signal(&slots);
  pthread_mutex_unlock(&mu);
  close(c->fd);
  free(c->buf);
  free(c);
  if (last) graceful_finish("<nil>");
  /* idle again after a burst: hand freed heap back, to stay at ~2 MB between bursts */
  if (idle_now) malloc_trim(0);
}

static void set_busy(conn_t *c, int busy) {
  pthread_mutex_lock(&mu);
  c->busy = busy;
  pthread_mutex_unlock(&mu);
}

/* ---------------- socket I/O ---------------- */

/* Reads more into c->buf: >0 bytes, 0 EOF, -1 error, -2 deadline passed. */
static int fill(conn_t *c, int64_t deadline) {
  if (c->len >= c->cap) return -1;
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return -2;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) continue;
    ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -1;
    }
    if (n == 0) return 0;
    c->len += (size_t)n;
    return (int)n;
  }
}

static void consume(conn_t *c, size_t k) {
  if (k >= c->len) {
    c->len = 0;
    return;
  }
  memmove(c->buf, c->buf + k, c->len - k);
  c->len -= k;
}

static int send_all(int fd, struct iovec *iov, int iovcnt) {
  while (iovcnt > 0) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)iovcnt;
    ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    size_t left = (size_t)w;
    while (iovcnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = (char *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

static void send_str(int fd, const char *s) {
  struct iovec v = {.iov_base = (void *)s, .iov_len = strlen(s)};
  send_all(fd, &v, 1);
}

/* ---------------- request parsing ---------------- */

enum { RQ_OK, RQ_CLOSE, RQ_BAD, RQ_HDR_TOO_BIG, RQ_TIMEOUT, RQ_BODY_TOO_BIG, RQ_NO_HOST };

/* Waits for a request's head (request line + headers); *hl is its length in c->buf. */
static int read_head(conn_t *c, size_t *hl, int first) {
  int64_t idle = now_ms() + (first ? IDLE_FIRST_MS : IDLE_KEEPALIVE_MS);
  for (;;) {
    size_t k = 0;
    while (k < c->len && (c->buf[k] == '\r' || c->buf[k] == '\n')) k++;
    if (k) consume(c, k);
    if (c->len > 0) break;
    if (fill(c, idle) <= 0) return RQ_CLOSE;
  }
  set_busy(c, 1);
  int64_t deadline = now_ms() + HEADERS_MS;
  size_t i = 0;
  for (;;) {
    while (i < c->len) {
      if (c->buf[i] == '\n') {
        if (i + 1 >= c->len) break;
        if (c->buf[i + 1] == '\n') {
          *hl = i + 2;
          return *hl > HEADER_LIMIT ? RQ_HDR_TOO_BIG : RQ_OK;
        }
        if (c->buf[i + 1] == '\r') {
          if (i + 2 >= c->len) break;
          if (c->buf[i + 2] == '\n') {
            *hl = i + 3;
            return *hl > HEADER_LIMIT ? RQ_HDR_TOO_BIG : RQ_OK;
          }
        }
      }
      i++;
    }
    if (c->len >= HEADER_LIMIT) return RQ_HDR_TOO_BIG;
    int r = fill(c, deadline);
    if (r == -2) return RQ_TIMEOUT;
    if (r <= 0) return RQ_CLOSE;
  }
}

typedef struct {
  int keepalive;
  int chunked;
  int has_cl;
  unsigned long long cl;
  int expect_continue;
  int expect_other;
  int connect;
  int bad_te;
} framing_t;

static int known_method(const char *m, size_t n) {
  static const char *methods[] = {"ACL", "BIND", "CHECKOUT", "CONNECT", "COPY", "DELETE", "GET", "HEAD", "LINK", "LOCK", "M-SEARCH", "MERGE",
                                  "MKACTIVITY", "MKCALENDAR", "MKCOL", "MOVE", "NOTIFY", "OPTIONS", "PATCH", "POST", "PROPFIND", "PROPPATCH",
                                  "PURGE", "PUT", "QUERY", "REBIND", "REPORT", "SEARCH", "SOURCE", "SUBSCRIBE", "TRACE", "UNBIND", "UNLINK",
                                  "UNLOCK", "UNSUBSCRIBE"};
  for (size_t k = 0; k < sizeof methods / sizeof *methods; k++)
    if (strlen(methods[k]) == n && !memcmp(methods[k], m, n)) return 1;
  return 0;
}

static int token_in_list(const char *v, size_t n, const char *tok) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t s = i;
    while (i < n && v[i] != ',') i++;
    size_t e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    if (e > s && ci_equal(v + s, e - s, tok)) return 1;
  }
  return 0;
}

/* Parses the head in h (NUL-terminated copy) into q and f; RQ_OK or RQ_BAD. */
static int parse_head(char *h, size_t hl, req_t *q, hdr_t **hdrs, size_t *hcap, framing_t *f) {
  size_t i = 0;
  size_t le = 0;
  while (le < hl && h[le] != '\n') le++;
  if (le == 0 || le >= hl || h[le - 1] != '\r') return RQ_BAD; /* CRLF, as llhttp insists */
  size_t lend = le - 1;
  /* METHOD SP+ target SP+ HTTP/x.y, with one of the methods Node's parser knows */
  while (i < lend && is_tchar((unsigned char)h[i])) i++;
  if (i == 0 || i >= lend || h[i] != ' ' || !known_method(h, i)) return RQ_BAD;
  q->method = h;
  q->method_len = i;
  while (i < lend && h[i] == ' ') i++;
  size_t ts = i;
  while (i < lend && (unsigned char)h[i] > 0x20 && (unsigned char)h[i] < 0x7F) i++;
  if (i == ts || i >= lend || h[i] != ' ') return RQ_BAD;
  q->target = h + ts;
  q->target_len = i - ts;
  while (i < lend && h[i] == ' ') i++;
  if (lend - i != 8 || memcmp(h + i, "HTTP/", 5) != 0 || h[i + 6] != '.') return RQ_BAD;
  int major = h[i + 5] - '0', minor = h[i + 7] - '0';
  if (!((major == 1 && (minor == 0 || minor == 1)) || (major == 0 && minor == 9) || (major == 2 && minor == 0))) return RQ_BAD;
  q->minor = minor;
  i = le + 1;

  int has_host = 0, has_te = 0, conn_close = 0, conn_ka = 0;
  q->nhdr = 0;
  for (;;) {
    size_t e = i;
    while (e < hl && h[e] != '\n') e++;
    if (e >= hl) return RQ_BAD;
    if (e == i || h[e - 1] != '\r') return RQ_BAD;
    size_t end = e - 1;
    if (end == i) break; /* the empty line */
    if (h[i] == ' ' || h[i] == '\t') return RQ_BAD; /* obsolete line folding */
    size_t ns = i;
    while (i < end && is_tchar((unsigned char)h[i])) i++;
    if (i == ns || i >= end || h[i] != ':') return RQ_BAD;
    size_t nn = i - ns;
    i++;
    while (i < end && (h[i] == ' ' || h[i] == '\t')) i++;
    size_t vs = i, ve = end;
    while (ve > vs && (h[ve - 1] == ' ' || h[ve - 1] == '\t')) ve--;
    for (size_t k = vs; k < ve; k++) {
      unsigned char c = (unsigned char)h[k];
      if ((c < 0x20 && c != '\t') || c == 0x7F) return RQ_BAD;
    }
    const char *name = h + ns, *val = h + vs;
    size_t vn = ve - vs;
    if (q->nhdr < MAX_HEADERS) {
      if (q->nhdr == *hcap) {
        *hcap = *hcap ? *hcap * 2 : 32;
        *hdrs = xrealloc(*hdrs, *hcap * sizeof **hdrs);
      }
      (*hdrs)[q->nhdr++] = (hdr_t){name, nn, val, vn};
    }
    if (ci_equal(name, nn, "host")) {
      has_host = 1;
    } else if (ci_equal(name, nn, "content-length")) {
      if (f->has_cl || vn == 0) return RQ_BAD;
      unsigned long long v = 0;
      for (size_t k = 0; k < vn; k++) {
        if (val[k] < '0' || val[k] > '9') return RQ_BAD;
        if (v > (1ULL << 40)) continue; /* too large either way; keep counting digits */
        v = v * 10 + (unsigned long long)(val[k] - '0');
      }
      f->has_cl = 1;
      f->cl = v;
    } else if (ci_equal(name, nn, "transfer-encoding")) {
      has_te = 1;
      size_t s = vn;
      while (s > 0 && val[s - 1] != ',') s--;
      size_t ts2 = s;
      while (ts2 < vn && (val[ts2] == ' ' || val[ts2] == '\t')) ts2++;
      f->chunked = ci_equal(val + ts2, vn - ts2, "chunked");
    } else if (ci_equal(name, nn, "connection")) {
      if (token_in_list(val, vn, "close")) conn_close = 1;
      if (token_in_list(val, vn, "keep-alive")) conn_ka = 1;
    } else if (ci_equal(name, nn, "expect")) {
      const char *m = ci_find(val, vn, "100-continue");
      if (m && (m == val || !is_word((unsigned char)m[-1])) && (m + 12 == val + vn || !is_word((unsigned char)m[12]))) f->expect_continue = 1;
      else f->expect_other = 1;
    } else if (ci_equal(name, nn, "content-type") && !q->ctype) {
      q->ctype = val;
      q->ctype_len = vn;
    }
    i = e + 1;
  }
  int v11 = major == 1 && minor == 1;
  if (v11 && !has_host) return RQ_NO_HOST;
  if (has_te && f->has_cl) return RQ_BAD;
  f->bad_te = has_te && !f->chunked; /* Node takes the head, then fails on the body */
  f->keepalive = major > 0 && minor > 0 ? !conn_close : conn_ka;
  if (!v11) f->expect_continue = f->expect_other = 0;
  f->connect = q->method_len == 7 && !memcmp(q->method, "CONNECT", 7);
  return RQ_OK;
}

/* Takes up to `want` bytes of body, from what is buffered, then from the socket. */
static int take_body(conn_t *c, buf_t *body, size_t want, int64_t deadline) {
  while (want > 0) {
    if (c->len == 0) {
      int r = fill(c, deadline);
      if (r == -2) return RQ_TIMEOUT;
      if (r <= 0) return RQ_CLOSE;
    }
    size_t k = c->len < want ? c->len : want;
    buf_add(body, c->buf, k);
    consume(c, k);
    want -= k;
  }
  return RQ_OK;
}

/* One line (chunk size or trailer) without its line ending, in *line. */
static int take_line(conn_t *c, buf_t *line, int64_t deadline) {
  buf_reset(line);
  size_t scanned = 0;
  for (;;) {
    const char *nl = memchr(c->buf + scanned, '\n', c->len - scanned);
    if (nl) {
      size_t k = (size_t)(nl - c->buf);
      if (k > LINE_LIMIT) return RQ_BAD;
      if (k == 0 || c->buf[k - 1] != '\r') return RQ_BAD;
      buf_add(line, c->buf, k - 1);
      consume(c, k + 1);
      return RQ_OK;
    }
    scanned = c->len;
    if (c->len > LINE_LIMIT) return RQ_BAD;
    int r = fill(c, deadline);
    if (r == -2) return RQ_TIMEOUT;
    if (r <= 0) return RQ_CLOSE;
  }
}

static int read_chunked(conn_t *c, buf_t *body, int64_t deadline) {
  buf_t line;
  buf_init(&line);
  int rc = RQ_OK;
  for (;;) {
    if ((rc = take_line(c, &line, deadline)) != RQ_OK) break;
    size_t i = 0;
    unsigned long long size = 0;
    while (i < line.n) {
      char ch = line.p[i];
      int v = (ch >= '0' && ch <= '9') ? ch - '0' : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10 : -1;
      if (v < 0) break;
      if (size > (1ULL << 40)) {
        rc = RQ_BODY_TOO_BIG;
        goto out;
      }
      size = size * 16 + (unsigned long long)v;
      i++;
    }
    if (i == 0) {
      rc = RQ_BAD;
      break;
    }
    while (i < line.n && (line.p[i] == ' ' || line.p[i] == '\t')) i++;
    if (i < line.n && line.p[i] != ';') {
      rc = RQ_BAD;
      break;
    }
    if (size == 0) {
      size_t trailers = 0;
      for (;;) { /* trailers, dropped */
        if ((rc = take_line(c, &line, deadline)) != RQ_OK) goto out;
        if (line.n == 0) goto out;
        trailers += line.n;
        if (trailers > HEADER_LIMIT) {
          rc = RQ_BAD;
          goto out;
        }
      }
    }
    if (size > BODY_LIMIT - body->n) {
      rc = RQ_BODY_TOO_BIG;
      break;
    }
    if ((rc = take_body(c, body, (size_t)size, deadline)) != RQ_OK) break;
    if ((rc = take_line(c, &line, deadline)) != RQ_OK) break;
    if (line.n != 0) {
      rc = RQ_BAD;
      break;
    }
  }
out:
  buf_free(&line);
  return rc;
}

/* ---------------- responses ---------------- */

static int write_response(conn_t *c, const req_t *q, resp_t *r, int keepalive) {
  char tmp[32], date[40];
  http_date(date);
  buf_t h;
  buf_init(&h);
  bf(&h, "HTTP/1.1 %d %s\r\n%SDate: %s\r\n", r->code, status_text(r->code, tmp, sizeof tmp), &r->hdrs, date);
  buf_adds(&h, keepalive ? "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n" : "Connection: close\r\n\r\n");
  struct iovec v[2] = {{.iov_base = h.p, .iov_len = h.n}, {.iov_base = r->body.p, .iov_len = r->body.n}};
  int with_body = !q->head && r->code != 204 && r->code != 304 && r->body.n > 0;
  int rc = send_all(c->fd, v, with_body ? 2 : 1);
  buf_free(&h);
  return rc;
}

static void req_reset(req_t *q) {
  buf_free(&q->body);
  buf_free(&q->path);
  buf_free(&q->rawq);
}

static void *conn_main(void *arg) {
  conn_t *c = arg;
  hdr_t *hdrs = NULL;
  size_t hcap = 0;
  buf_t head;
  buf_init(&head);
  for (int first = 1;; first = 0) {
    size_t hl = 0;
    int rc = read_head(c, &hl, first);
    if (rc == RQ_CLOSE) break;
    if (rc == RQ_HDR_TOO_BIG) {
      send_str(c->fd, "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n");
      break;
    }
    if (rc == RQ_TIMEOUT) {
      send_str(c->fd, ANSWER_408);
      break;
    }
    int64_t deadline = now_ms() + REQUEST_MS;
    buf_reset(&head);
    buf_add(&head, c->buf, hl);
    consume(c, hl);
    req_t q;
    memset(&q, 0, sizeof q);
    framing_t f;
    memset(&f, 0, sizeof f);
    rc = parse_head(head.p, hl, &q, &hdrs, &hcap, &f);
    if (rc == RQ_NO_HOST) { /* Node answers this one itself, in its own way */
      char date[40];
      http_date(date);
      buf_t h;
      buf_init(&h);
      bf(&h, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: %s\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", date);
      send_str(c->fd, h.p);
      buf_free(&h);
      break;
    }
    if (rc != RQ_OK) {
      send_str(c->fd, ANSWER_400);
      break;
    }
    q.hdrs = hdrs;
    memcpy(q.remote, c->remote, sizeof q.remote);
    q.head = q.method_len == 4 && !memcmp(q.method, "HEAD", 4);
    if (f.connect) break; /* Node drops CONNECT requests it has no handler for */
    /* Node reports body failures from the handler, with the socket already gone (hence ":0") */
    if (f.has_cl && f.cl > BODY_LIMIT) {
      logmsg("http: panic serving :0: request body too large");
      break;
    }
    if (f.bad_te) {
      logmsg("http: panic serving :0: aborted");
      send_str(c->fd, ANSWER_400);
      break;
    }
    if (f.expect_continue) send_str(c->fd, "HTTP/1.1 100 Continue\r\n\r\n");
    if (f.chunked) rc = read_chunked(c, &q.body, deadline);
    else if (f.has_cl) rc = take_body(c, &q.body, (size_t)f.cl, deadline);
    if (rc != RQ_OK) {
      logmsg("http: panic serving :0: %s", rc == RQ_BODY_TOO_BIG ? "request body too large" : "aborted");
      if (rc == RQ_BAD) send_str(c->fd, ANSWER_400);
      else if (rc == RQ_TIMEOUT) send_str(c->fd, ANSWER_408);
      req_reset(&q);
      break;
    }
    resp_t r;
    memset(&r, 0, sizeof r);
    buf_t panic;
    buf_init(&panic);
    if (f.expect_other) {
      /* Node's answer to an expectation it has no handler for */
      buf_t h;
      buf_init(&h);
      char date[40];
      http_date(date);
      bf(&h, "HTTP/1.1 417 Expectation Failed\r\nDate: %s\r\n%s", date,
         f.keepalive && !atomic_load(&closing) ? "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                                               : "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
      send_str(c->fd, h.p);
      buf_free(&h);
      r.responded = 1;
      r.code = 417;
    } else {
      serve_request(&q, &r, &panic);
    }
    int ka = f.keepalive && !atomic_load(&closing), ok;
    if (panic.n) {
      logmsg("http: panic serving %s: %S", c->remote, &panic);
      ok = 0;
    } else if (r.destroy) {
      ok = 0;
    } else if (!r.responded) {
      ok = write_response(c, &q, &r, ka) == 0 && ka;
    } else {
      ok = ka;
    }
    buf_free(&panic);
    buf_free(&r.hdrs);
    buf_free(&r.body);
    req_reset(&q);
    if (!ok) break;
    set_busy(c, 0);
    if (atomic_load(&closing)) break;
  }
  buf_free(&head);
  free(hdrs);
  conn_done(c);
  return NULL;
}

void http_serve(int lfd) {
  pthread_mutex_lock(&mu);
  listen_fd = lfd;
  pthread_mutex_unlock(&mu);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, CONN_STACK);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (;;) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
    if (atomic_load(&closing)) {
      if (fd >= 0) close(fd);
      break;
    }
    if (fd < 0) {
      if (errno != EINTR && errno != ECONNABORTED) usleep(10000); /* EMFILE and the like: let things drain */
      continue;
    }
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    struct timeval tv = {.tv_sec = 120};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    conn_t *c = calloc(1, sizeof *c);
    char *b = malloc(HEADER_LIMIT + 4096);
    if (!c || !b) {
      free(c);
      free(b);
      close(fd);
      continue;
    }
    c->fd = fd;
    c->buf = b;
    c->cap = HEADER_LIMIT + 4096;
    host_port(c->remote, sizeof c->remote, (struct sockaddr *)&ss);
    pthread_mutex_lock(&mu);
    while (nconns >= MAX_CONNS) pthread_cond_wait(&slots, &mu);
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
    nconns++;
    c->busy = 0;
    pthread_mutex_unlock(&mu);
    pthread_t t;
    if (pthread_create(&t, &attr, conn_main, c) != 0) conn_done(c);
  }
  pthread_attr_destroy(&attr);
  pthread_mutex_lock(&mu);
  close(lfd);
  listen_fd = -1;
  pthread_mutex_unlock(&mu);
}
