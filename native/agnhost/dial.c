/* /dial: HTTP (redirects followed, 5 s for the whole exchange) and UDP probes from this pod to
 * another, with the JSON and error strings of netexec.ts (Go's texts where it has them). */
#include "agnhost.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIAL_MS 5000

typedef struct {
  char ip[INET6_ADDRSTRLEN + 64];
  int port;
  buf_t display; /* addr.String() as Go prints it */
} resolved_t;

/* "ip:port", IPv4-mapped shown as IPv4, IPv6 in brackets (common.ts hostPort) */
static void host_port_str(buf_t *out, const char *ip, int port) {
  if (!strncmp(ip, "::ffff:", 7) && strchr(ip, '.')) ip += 7;
  if (strchr(ip, ':')) bf(out, "[%s]:%d", ip, port);
  else bf(out, "%s:%d", ip, port);
}

/* net.isIP, including IPv6 with a zone ("fe80::1%eth0") */
static int ip_literal(const char *s) {
  int fam;
  if (is_ip_literal(s, &fam)) return fam;
  if (!strchr(s, '%') || !strchr(s, ':')) return 0;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET6;
  hints.ai_flags = AI_NUMERICHOST;
  if (getaddrinfo(s, NULL, &hints, &res) != 0) return 0;
  freeaddrinfo(res);
  return 6;
}

/* netexec.ts resolveAddr: 0 with the error text in err */
static int resolve_addr(const char *proto, const buf_t *host, const buf_t *port, resolved_t *out, buf_t *err) {
  out->port = 0;
  if (port->n) {
    unsigned long long p = 0;
    for (size_t i = 0; i < port->n; i++) {
      if (port->p[i] < '0' || port->p[i] > '9') {
        bf(err, "lookup %s/%S: unknown port", proto, port);
        return 0;
      }
      if (p < 1000000) p = p * 10 + (unsigned long long)(port->p[i] - '0');
    }
    if (p > 65535) {
      bf(err, "address %S: invalid port", port);
      return 0;
    }
    out->port = (int)p;
  }
  if (host->n == 0) {
    snprintf(out->ip, sizeof out->ip, "127.0.0.1");
    bf(&out->display, ":%d", out->port);
    return 1;
  }
  if (strlen(host->p) != host->n || host->n >= sizeof out->ip) {
    bf(err, "lookup %S: no such host", host);
    return 0;
  }
  if (ip_literal(host->p)) {
    snprintf(out->ip, sizeof out->ip, "%s", host->p);
  } else {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host->p, NULL, &hints, &res) != 0 || !res) {
      bf(err, "lookup %S: no such host", host);
      return 0;
    }
    struct addrinfo *pick = res;
    for (struct addrinfo *a = res; a; a = a->ai_next)
      if (a->ai_family == AF_INET) {
        pick = a;
        break;
      }
    if (pick->ai_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)pick->ai_addr)->sin_addr, out->ip, sizeof out->ip);
    else inet_ntop(AF_INET6, &((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr, out->ip, sizeof out->ip);
    freeaddrinfo(res);
  }
  host_port_str(&out->display, out->ip, out->port);
  return 1;
}

/* getaddrinfo for host:port, any family */
static int lookup_port(const char *host, int port, int flags, int socktype, struct addrinfo **res) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = flags;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  return getaddrinfo(host, ps, &hints, res);
}

/* A sockaddr for an IP literal (with an optional IPv6 zone). */
static int literal_sockaddr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *sl) {
  struct addrinfo *res = NULL;
  if (lookup_port(ip, port, AI_NUMERICHOST, 0, &res) != 0 || !res) return 0;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *sl = res->ai_addrlen;
  freeaddrinfo(res);
  return 1;
}

/* ---------------- HTTP ---------------- */

enum { H_OK, H_DEADLINE, H_CONNECT, H_EOF, H_READ, H_PARSE, H_OVERFLOW, H_BODY_EOF, H_DNS };

typedef struct {
  int fd;
  char buf[16384]; /* a response's head line may be this long (Node's limit) */
  size_t len, off;
  int64_t deadline;
} hconn_t;

static int wait_fd(int fd, short ev, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return -2;
    struct pollfd p = {.fd = fd, .events = ev};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r > 0) return 0;
  }
}

/* 1 on data, 0 on EOF, -1 error (errno), -2 deadline, -3 a line longer than the buffer */
static int hfill(hconn_t *c) {
  if (c->off == c->len) c->off = c->len = 0;
  if (c->len == sizeof c->buf) {
    memmove(c->buf, c->buf + c->off, c->len - c->off);
    c->len -= c->off;
    c->off = 0;
    if (c->len == sizeof c->buf) return -3;
  }
  for (;;) {
    int w = wait_fd(c->fd, POLLIN, c->deadline);
    if (w == -2) return -2;
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return -1;
    if (n == 0) return 0;
    c->len += (size_t)n;
    return 1;
  }
}

/* A line (without CRLF) of the response; -3 when a line is too long for the buffer */
static int hline(hconn_t *c, buf_t *line) {
  buf_reset(line);
  for (;;) {
    char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
    if (nl) {
      size_t e = (size_t)(nl - c->buf);
      size_t end = (e > c->off && c->buf[e - 1] == '\r') ? e - 1 : e;
      buf_add(line, c->buf + c->off, end - c->off);
      c->off = e + 1;
      return 1;
    }
    int r = hfill(c);
    if (r <= 0) return r;
  }
}

typedef struct {
  int status;
  buf_t location;
  int has_location;
  buf_t body;
  int err_errno;
} hresp_t;

static int is_redirect(const hresp_t *r) {
  return r->has_location && r->location.n && (r->status == 301 || r->status == 302 || r->status == 303 || r->status == 307 || r->status == 308);
}

/* The failure kind for hline's result l while reading the response head */
static int head_error(int l, hresp_t *r) {
  if (l == -1) r->err_errno = errno;
  return l == -2 ? H_DEADLINE : l == -3 ? H_OVERFLOW : l == 0 ? H_EOF : H_READ; /* EOF: Node's "socket hang up" */
}

static int connect_to(hconn_t *c, const struct sockaddr *sa, socklen_t sl, int *err) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *err = errno;
    return H_CONNECT;
  }
  if (connect(fd, sa, sl) != 0 && errno != EINPROGRESS) {
    *err = errno;
    close(fd);
    return H_CONNECT;
  }
  int w = wait_fd(fd, POLLOUT, c->deadline);
  if (w == -2) {
    close(fd);
    return H_DEADLINE;
  }
  int so = 0;
  socklen_t l = sizeof so;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &l);
  if (so) {
    *err = so;
    close(fd);
    return H_CONNECT;
  }
  c->fd = fd;
  return H_OK;
}

/* One GET exchange; fills r, or returns the failure kind (errno in r->err_errno). */
static int http_get(const char *host, int port, const buf_t *path, const buf_t *hosthdr, int64_t deadline, hresp_t *r, buf_t *dnserr) {
  hconn_t *c = xmalloc(sizeof *c);
  c->fd = -1;
  c->len = c->off = 0;
  c->deadline = deadline;
  int rc = H_CONNECT;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (ip_literal(host)) {
    if (!literal_sockaddr(host, port, &ss, &sl)) {
      r->err_errno = EINVAL;
      goto out;
    }
    rc = connect_to(c, (struct sockaddr *)&ss, sl, &r->err_errno);
  } else {
    struct addrinfo *res = NULL;
    int g = lookup_port(host, port, 0, SOCK_STREAM, &res);
    if (g != 0 || !res) {
      bf(dnserr, "getaddrinfo %s %s", g == EAI_AGAIN ? "EAI_AGAIN" : "ENOTFOUND", host);
      rc = H_DNS;
      goto out;
    }
    for (struct addrinfo *a = res; a; a = a->ai_next) {
      rc = connect_to(c, a->ai_addr, a->ai_addrlen, &r->err_errno);
      if (rc != H_CONNECT) break;
    }
    freeaddrinfo(res);
  }
  if (rc != H_OK) goto out;
  buf_t req;
  buf_init(&req);
  bf(&req, "GET %S HTTP/1.1\r\nUser-Agent: Go-http-client/1.1\r\nHost: %S\r\nConnection: close\r\n\r\n", path, hosthdr);
  for (size_t off = 0; off < req.n;) {
    ssize_t w = send(c->fd, req.p + off, req.n - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EAGAIN) {
      if (wait_fd(c->fd, POLLOUT, deadline) == -2) {
        rc = H_DEADLINE;
        break;
      }
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      r->err_errno = errno;
      rc = H_READ;
      break;
    }
    off += (size_t)w;
  }
  buf_free(&req);
  if (rc != H_OK) goto out;

  buf_t line;
  buf_init(&line);
  int chunked = 0, has_cl = 0;
  unsigned long long cl = 0;
  for (;;) { /* status line and headers; 1xx answers skipped */
    int l = hline(c, &line);
    if (l <= 0) {
      rc = head_error(l, r);
      goto done;
    }
    if (line.n < 12 || memcmp(line.p, "HTTP/1.", 7) != 0 || line.p[8] != ' ') {
      rc = H_PARSE;
      goto done;
    }
    r->status = atoi(line.p + 9);
    chunked = has_cl = 0;
    r->has_location = 0;
    buf_reset(&r->location);
    for (;;) {
      l = hline(c, &line);
      if (l <= 0) {
        rc = head_error(l, r);
        goto done;
      }
      if (line.n == 0) break;
      const char *colon = memchr(line.p, ':', line.n);
      if (!colon) {
        rc = H_PARSE;
        goto done;
      }
      size_t nn = (size_t)(colon - line.p);
      const char *v = colon + 1;
      size_t vn = line.n - nn - 1;
      while (vn && (*v == ' ' || *v == '\t')) v++, vn--;
      while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) vn--;
      if (ci_equal(line.p, nn, "location") && !r->has_location) {
        r->has_location = 1;
        buf_add(&r->location, v, vn);
      } else if (ci_equal(line.p, nn, "transfer-encoding")) {
        chunked = ci_find(v, vn, "chunked") != NULL;
      } else if (ci_equal(line.p, nn, "content-length")) {
        has_cl = 1;
        cl = strtoull(v, NULL, 10);
      }
    }
    if (r->status >= 100 && r->status < 200 && r->status != 101) continue;
    break;
  }
  rc = H_OK;
  if (is_redirect(r)) goto done; /* the body is not needed */
  if (r->status == 204 || r->status == 304) goto done;
  if (chunked) {
    for (;;) {
      int l = hline(c, &line);
      if (l <= 0) {
        rc = l == -2 ? H_DEADLINE : H_BODY_EOF;
        goto done;
      }
      unsigned long long size = strtoull(line.p ? line.p : "", NULL, 16);
      if (size > BODY_LIMIT || r->body.n + size > BODY_LIMIT) {
        rc = H_BODY_EOF;
        goto done;
      }
      if (size == 0) {
        while ((l = hline(c, &line)) > 0 && line.n > 0) {
        }
        break;
      }
      while (size > 0) {
        if (c->off == c->len) {
          int f = hfill(c);
          if (f <= 0) {
            rc = f == -2 ? H_DEADLINE : H_BODY_EOF;
            goto done;
          }
        }
        size_t k = c->len - c->off < size ? c->len - c->off : (size_t)size;
        buf_add(&r->body, c->buf + c->off, k);
        c->off += k;
        size -= k;
      }
      l = hline(c, &line);
      if (l <= 0) {
        rc = l == -2 ? H_DEADLINE : H_BODY_EOF;
        goto done;
      }
    }
  } else {
    for (;;) {
      if (has_cl && r->body.n >= cl) break;
      if (c->off == c->len) {
        int f = hfill(c);
        if (f == 0 && !has_cl) break;
        if (f <= 0) {
          rc = f == -2 ? H_DEADLINE : H_BODY_EOF;
          goto done;
        }
      }
      size_t k = c->len - c->off;
      if (has_cl && k > cl - r->body.n) k = (size_t)(cl - r->body.n);
      if (r->body.n + k > BODY_LIMIT) {
        rc = H_BODY_EOF;
        goto done;
      }
      buf_add(&r->body, c->buf + c->off, k);
      c->off += k;
    }
  }
done:
  buf_free(&line);
out:
  if (c->fd >= 0) close(c->fd);
  free(c);
  return rc;
}

static void json_quote(buf_t *out, const char *s, size_t n) {
  buf_t clean;
  buf_init(&clean);
  utf8_sanitize(&clean, s, n);
  js_json_str(out, clean.p ? clean.p : "", clean.n);
  buf_free(&clean);
}

/* The error of a failed GET of url, in the words of Go's http.Client (or Node's, where it differs) */
static void get_error(buf_t *out, int rc, int e, const buf_t *url, const buf_t *target, const buf_t *dnserr, const buf_t *host, int port) {
  if (rc == H_BODY_EOF) {
    buf_adds(out, "unexpected EOF");
    return;
  }
  buf_adds(out, "Get ");
  json_quote(out, url->p, url->n);
  buf_adds(out, ": ");
  const char *t = errno_text(e);
  switch (rc) {
    case H_DEADLINE: buf_adds(out, "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"); break;
    case H_EOF: buf_adds(out, "EOF"); break;
    case H_DNS: bf(out, "read tcp %S: read: %S", target, dnserr); break;
    case H_PARSE: bf(out, "read tcp %S: read: Parse Error: Expected HTTP/", target); break;
    case H_OVERFLOW: bf(out, "read tcp %S: read: Parse Error: Header overflow", target); break;
    case H_CONNECT:
      if (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == ETIMEDOUT || e == EADDRNOTAVAIL) {
        bf(out, "dial tcp %S: connect: %s", target, t);
      } else if (t) {
        bf(out, "read tcp %S: read: %s", target, t);
      } else {
        bf(out, "read tcp %S: read: connect %s %S:%d", target, errno_name(e), host, port);
      }
      break;
    default:
      if (t) bf(out, "read tcp %S: read: %s", target, t);
      else bf(out, "read tcp %S: read: read %s", target, errno_name(e));
  }
}

/* netexec.ts dialHTTP: 1 with the body in out, 0 with the error in out */
static int dial_http(const buf_t *request, const resolved_t *addr, buf_t *out) {
  int64_t deadline = now_ms() + DIAL_MS;
  buf_t url;
  buf_init(&url);
  bf(&url, "http://%S/%S", &addr->display, request);
  url_t u, next;
  url_init(&u);
  url_init(&next);
  int ok = 0;
  if (!url_parse(&u, url.p, url.n, NULL)) {
    buf_adds(out, "parse ");
    json_quote(out, url.p, url.n);
    buf_adds(out, ": invalid URL");
    goto out;
  }
  for (int hops = 0;; hops++) {
    buf_t host, path, hosthdr, dnserr, target;
    buf_init(&host);
    buf_init(&path);
    buf_init(&hosthdr);
    buf_init(&dnserr);
    buf_init(&target);
    url_hostname(&u, &host);
    if (host.n == 0) buf_adds(&host, addr->ip);
    buf_add(&path, u.path.p ? u.path.p : "/", u.path.n ? u.path.n : 1);
    if (u.has_query && u.query.n) bf(&path, "?%S", &u.query);
    url_hostport(&u, &hosthdr);
    buf_add(&target, hosthdr.p ? hosthdr.p : "", hosthdr.n);
    if (!memchr(target.p ? target.p : "", ':', target.n)) buf_adds(&target, ":80");
    hresp_t r;
    memset(&r, 0, sizeof r);
    int port = u.port >= 0 ? u.port : 80;
    int rc = http_get(host.p ? host.p : "", port, &path, &hosthdr, deadline, &r, &dnserr);
    int follow = 0;
    if (rc != H_OK) {
      get_error(out, rc, r.err_errno, &url, &target, &dnserr, &host, port);
    } else if (is_redirect(&r)) {
      if (hops >= 10) {
        buf_adds(out, "Get ");
        json_quote(out, r.location.p, r.location.n);
        buf_adds(out, ": stopped after 10 redirects");
      } else if (!url_parse(&next, r.location.p, r.location.n, &u)) {
        buf_adds(out, "Get ");
        json_quote(out, url.p, url.n);
        buf_adds(out, ": failed to parse Location header ");
        json_quote(out, r.location.p, r.location.n);
      } else {
        follow = 1;
      }
    } else {
      utf8_sanitize(out, r.body.p ? r.body.p : "", r.body.n);
      ok = 1;
    }
    buf_free(&host);
    buf_free(&path);
    buf_free(&hosthdr);
    buf_free(&dnserr);
    buf_free(&target);
    buf_free(&r.location);
    buf_free(&r.body);
    if (!follow) break;
    buf_reset(&url);
    url_href(&next, &url);
    url_t tmp = u;
    u = next;
    next = tmp;
  }
out:
  url_free(&u);
  url_free(&next);
  buf_free(&url);
  return ok;
}

/* ---------------- UDP ---------------- */

static int dial_udp(const buf_t *request, const resolved_t *addr, buf_t *out) {
  if (addr->port == 0) {
    buf_adds(out, "Port should be > 0 and < 65536. Received type number (0).");
    return 0;
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!literal_sockaddr(addr->ip, addr->port, &ss, &sl)) {
    bf(out, "udp dial failed. err:dial udp %S: invalid argument", &addr->display);
    return 0;
  }
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) != 0) {
    int e = errno;
    const char *t = errno_text(e);
    if (t) bf(out, "udp dial failed. err:dial udp %S: %s", &addr->display, t);
    else bf(out, "udp dial failed. err:dial udp %S: connect %s %s:%d", &addr->display, errno_name(e), addr->ip, addr->port);
    if (fd >= 0) close(fd);
    return 0;
  }
  struct sockaddr_storage ls;
  socklen_t ll = sizeof ls;
  char local[80] = "";
  if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0) host_port(local, sizeof local, (struct sockaddr *)&ls);
  int ok = 0;
  if (send(fd, request->p ? request->p : "", request->n, MSG_NOSIGNAL) < 0) {
    bf(out, "udp connection write failed. err:write udp %s->%S: send %s", local, &addr->display, errno_name(errno));
    close(fd);
    return 0;
  }
  int64_t deadline = now_ms() + DIAL_MS;
  char msg[2048];
  for (;;) {
    int64_t left = deadline - now_ms();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = left > 0 ? poll(&p, 1, (int)left) : 0;
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      bf(out, "reading from udp connection failed. err:'read udp %s->%S: i/o timeout'", local, &addr->display);
      break;
    }
    ssize_t n = recv(fd, msg, sizeof msg, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      const char *t = errno_text(e);
      if (t) bf(out, "reading from udp connection failed. err:'read udp %s->%S: read: %s'", local, &addr->display, t);
      else bf(out, "reading from udp connection failed. err:'read udp %s->%S: read: recvmsg %s'", local, &addr->display, errno_name(e));
      break;
    }
    if (n == 0) {
      buf_adds(out, "reading from udp connection failed. err:'<nil>'");
      break;
    }
    utf8_sanitize(out, msg, (size_t)n);
    ok = 1;
    break;
  }
  close(fd);
  return ok;
}

/* ---------------- the handler ---------------- */

static void str_list(buf_t *b, const char *key, buf_t *items, size_t n) {
  bf(b, "\"%s\":[", key);
  for (size_t i = 0; i < n; i++) {
    if (i) buf_addc(b, ',');
    go_json_str(b, items[i].p ? items[i].p : "", items[i].n);
  }
  buf_addc(b, ']');
}

void dial_handler(req_t *q, resp_t *r) {
  buf_t host, port, request, protocol, tries, msg;
  buf_init(&host);
  buf_init(&port);
  buf_init(&request);
  buf_init(&protocol);
  buf_init(&tries);
  buf_init(&msg);
  const char *rq = q->rawq.p ? q->rawq.p : "";
  query_get(rq, q->rawq.n, "host", &host);
  query_get(rq, q->rawq.n, "port", &port);
  query_get(rq, q->rawq.n, "request", &request);
  query_get(rq, q->rawq.n, "protocol", &protocol);
  query_get(rq, q->rawq.n, "tries", &tries);
  logmsg("GET /dial?host=%S&protocol=%S&port=%S&request=%S&tries=%S", &host, &protocol, &port, &request, &tries);
  resolved_t addr;
  memset(&addr, 0, sizeof addr);
  buf_init(&addr.display);
  long long ntries = 1;
  int kind = 0; /* 1 http, 2 udp, 3 sctp */
  if (tries.n) {
    int a = js_atoi(tries.p, tries.n, &ntries);
    if (a != 1) {
      buf_adds(&msg, "tries parameter is invalid. strconv.Atoi: parsing ");
      json_quote(&msg, tries.p, tries.n);
      buf_adds(&msg, a == 0 ? ": invalid syntax" : ": value out of range");
      http_error(r, msg.p, msg.n, 400);
      goto out;
    }
  }
  if (request.n == 0) {
    buf_adds(&msg, "request parameter not specified. <nil>");
    http_error(r, msg.p, msg.n, 400);
    goto out;
  }
  if (protocol.n == 0 || ci_equal(protocol.p, protocol.n, "http")) kind = 1;
  else if (ci_equal(protocol.p, protocol.n, "udp")) kind = 2;
  else if (ci_equal(protocol.p, protocol.n, "sctp")) kind = 3;
  if (!kind) {
    bf(&msg, "unsupported protocol. %S", &protocol);
    http_error(r, msg.p, msg.n, 400);
    goto out;
  }
  buf_t err;
  buf_init(&err);
  if (!resolve_addr(kind == 2 ? "udp" : "tcp", &host, &port, &addr, &err)) {
    bf(&msg, "host and/or port param are invalid. %S", &err);
    buf_free(&err);
    http_error(r, msg.p, msg.n, 400);
    goto out;
  }
  buf_free(&err);
  {
    buf_t *responses = NULL, *errors = NULL;
    size_t nr = 0, ne = 0;
    int last_nonempty = 0;
    for (long long i = 0; i < ntries; i++) {
      buf_t res;
      buf_init(&res);
      int ok;
      if (kind == 1) ok = dial_http(&request, &addr, &res);
      else if (kind == 2) ok = dial_udp(&request, &addr, &res);
      else {
        ok = 0;
        buf_adds(&res, "sctp dial failed. err:protocol not supported");
      }
      if (ok) {
        responses = xrealloc(responses, (nr + 1) * sizeof *responses);
        responses[nr++] = res;
        last_nonempty = res.n > 0;
      } else {
        errors = xrealloc(errors, (ne + 1) * sizeof *errors);
        errors[ne++] = res;
        last_nonempty = 0;
      }
    }
    buf_t b;
    buf_init(&b);
    buf_addc(&b, '{');
    if (ne) str_list(&b, "errors", errors, ne);
    if (last_nonempty) {
      if (ne) buf_addc(&b, ',');
      str_list(&b, "responses", responses, nr);
    }
    buf_addc(&b, '}');
    resp_send_buf(r, 200, &b);
    for (size_t i = 0; i < nr; i++) buf_free(&responses[i]);
    for (size_t i = 0; i < ne; i++) buf_free(&errors[i]);
    free(responses);
    free(errors);
  }
out:
  buf_free(&addr.display);
  buf_free(&host);
  buf_free(&port);
  buf_free(&request);
  buf_free(&protocol);
  buf_free(&tries);
  buf_free(&msg);
}
