/* agnhost netexec, natively: flags, the endpoints, the UDP server and shutdown, each mirroring
 * src/agent/agnhost/netexec.ts (see agnhost.h for why this exists). */
#include "agnhost.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct netexec_opts opts = {
    .http_port = 8080, .udp_port = 8081, .sctp_port = -1, .delay_shutdown = 0, .http_override = ""};
atomic_int server_ready;
atomic_int sigterm_received;

/* ---------------- handing over to the TypeScript agnhost ---------------- */

/* Whatever this program does not implement runs `node main.js <same args>`, so usage, flag
 * errors and TLS behave exactly as before. */
static _Noreturn void hand_over(int argc, char **argv) {
  const char *node = getenv("PODNET_AGNHOST_NODE");
  const char *main_js = getenv("PODNET_AGNHOST_MAIN");
  if (!node || !*node || !main_js || !*main_js) {
    fprintf(stderr, "agnhost-netexec: these arguments need the TypeScript agnhost, but PODNET_AGNHOST_NODE and PODNET_AGNHOST_MAIN are not set\n");
    exit(1);
  }
  char **nargv = calloc((size_t)argc + 2, sizeof *nargv);
  if (!nargv) exit(1);
  nargv[0] = (char *)node;
  nargv[1] = (char *)main_js;
  for (int i = 1; i < argc; i++) nargv[i + 1] = argv[i];
  execv(node, nargv);
  fprintf(stderr, "agnhost-netexec: cannot run %s: %s\n", node, strerror(errno));
  exit(1);
}

/* ---------------- flags (pflag syntax, as flags.ts parses them) ---------------- */

enum ftype { F_INT, F_STRING, F_BOOL, F_HANDOVER };

struct flagdef {
  const char *name;
  enum ftype type;
  void *dst; /* NULL: accepted and ignored (klog's flags) */
};

static long long http_port_v = 8080, udp_port_v = 8081, sctp_port_v = -1, delay_v = 0;
static const char *udp_addrs_v = "", *override_v = "";

static const struct flagdef FLAGS[] = {
    {"delay-shutdown", F_INT, &delay_v},
    {"http-override", F_STRING, &override_v},
    {"http-port", F_INT, &http_port_v},
    {"sctp-port", F_INT, &sctp_port_v},
    {"tls-cert-file", F_HANDOVER, NULL},
    {"tls-private-key-file", F_HANDOVER, NULL},
    {"udp-listen-addresses", F_STRING, &udp_addrs_v},
    {"udp-port", F_INT, &udp_port_v},
    {"help", F_HANDOVER, NULL},
    {"add_dir_header", F_BOOL, NULL},
    {"alsologtostderr", F_BOOL, NULL},
    {"log_backtrace_at", F_STRING, NULL},
    {"log_dir", F_STRING, NULL},
    {"log_file", F_STRING, NULL},
    {"log_file_max_size", F_INT, NULL},
    {"logtostderr", F_BOOL, NULL},
    {"one_output", F_BOOL, NULL},
    {"skip_headers", F_BOOL, NULL},
    {"skip_log_headers", F_BOOL, NULL},
    {"stderrthreshold", F_STRING, NULL},
    {"v", F_INT, NULL},
    {"vmodule", F_STRING, NULL},
};

/* Plain decimal only; pflag's other forms (0x…, 0o…, 1_000) are left to the TypeScript parser. */
static int parse_int(const char *s, long long *out) {
  const char *p = s;
  if (*p == '+' || *p == '-') p++;
  size_t n = strlen(p);
  if (n == 0 || n > 15 || (n > 1 && p[0] == '0')) return 0;
  for (size_t i = 0; i < n; i++)
    if (p[i] < '0' || p[i] > '9') return 0;
  long long v = strtoll(p, NULL, 10);
  *out = s[0] == '-' ? -v : v;
  return 1;
}

static int parse_bool(const char *s) {
  static const char *ok[] = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
    if (!strcmp(s, ok[i])) return 1;
  return 0;
}

static int assign(const struct flagdef *d, const char *v) {
  switch (d->type) {
    case F_INT: {
      long long x;
      if (!parse_int(v, &x)) return 0;
      if (d->dst) *(long long *)d->dst = x;
      return 1;
    }
    case F_BOOL: return parse_bool(v);
    case F_STRING:
      if (d->dst) *(const char **)d->dst = v;
      return 1;
    default: return 0;
  }
}

static const struct flagdef *find_flag(const char *name, size_t n) {
  for (size_t k = 0; k < sizeof FLAGS / sizeof *FLAGS; k++)
    if (strlen(FLAGS[k].name) == n && !strncmp(FLAGS[k].name, name, n)) return &FLAGS[k];
  return NULL;
}

/* 1 when argv (after the binary) is a netexec command line this program runs itself. */
static int parse_args(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "netexec") != 0) return 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) return i + 1 == argc; /* positional arguments: "accepts at most 0 arg(s)" */
    if (!strncmp(a, "--", 2)) {
      const char *body = a + 2;
      const char *eq = strchr(body, '=');
      size_t nl = eq ? (size_t)(eq - body) : strlen(body);
      const struct flagdef *d = find_flag(body, nl);
      if (!d || d->type == F_HANDOVER) return 0;
      if (eq) {
        if (!assign(d, eq + 1)) return 0;
      } else if (d->type == F_BOOL) {
        continue;
      } else if (i + 1 < argc) {
        if (!assign(d, argv[++i])) return 0;
      } else {
        return 0;
      }
      continue;
    }
    if (a[0] == '-' && a[1] != 0) {
      /* the only shorthands are -v (klog) and -h (help, handed over) */
      if (a[1] != 'v') return 0;
      const struct flagdef *d = find_flag("v", 1);
      const char *rest = a + 2;
      if (*rest == '=') rest++;
      else if (*rest == 0) {
        if (i + 1 >= argc) return 0;
        rest = argv[++i];
      }
      if (!assign(d, rest)) return 0;
      continue;
    }
    return 0; /* a positional argument */
  }
  return 1;
}

/* ---------------- small shared pieces ---------------- */

void get_hostname(buf_t *out) {
  const char *h = getenv("PODNET_HOSTNAME");
  if (h && *h) {
    buf_adds(out, h);
    return;
  }
  char name[256];
  if (gethostname(name, sizeof name) != 0) name[0] = 0;
  name[sizeof name - 1] = 0;
  buf_adds(out, name);
}

_Noreturn void exit_now(int code) { _exit(code); }

/* setTimeout's clamping: delays outside [1, 2^31-1] ms become 1 ms */
static void sleep_timer_ms(double ms) {
  if (!(ms >= 1 && ms <= 2147483647.0)) ms = 1;
  struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---------------- responses (common.ts send / httpError / redirect) ---------------- */

void resp_header(resp_t *r, const char *name, const char *val, size_t vn) {
  bf(&r->hdrs, "%s: %V\r\n", name, val, vn);
  if (!strcmp(name, "Content-Type")) r->has_ctype = 1;
}

static void finish_send(resp_t *r, int code) {
  if (r->body.n > 0 && !r->has_ctype) {
    const char *ct = sniff_content_type(r->body.p, r->body.n);
    resp_header(r, "Content-Type", ct, strlen(ct));
  }
  bf(&r->hdrs, "Content-Length: %L\r\n", (long long)r->body.n);
  if (code < 100 || code > 999) { /* Node refuses such codes; Go would drop the connection */
    r->destroy = 1;
    return;
  }
  if (code < 200) code = 200; /* an informational status is followed by an implicit 200 */
  r->code = code;
}

void resp_send(resp_t *r, int code, const char *body, size_t n) {
  buf_reset(&r->body);
  buf_add(&r->body, body, n);
  finish_send(r, code);
}

void resp_send_buf(resp_t *r, int code, buf_t *body) {
  buf_move(&r->body, body);
  finish_send(r, code);
}

void http_error(resp_t *r, const char *msg, size_t n, int code) {
  resp_header(r, "Content-Type", "text/plain; charset=utf-8", 25);
  resp_header(r, "X-Content-Type-Options", "nosniff", 7);
  buf_t b;
  buf_init(&b);
  buf_add(&b, msg, n);
  buf_addc(&b, '\n');
  resp_send_buf(r, code, &b);
}

static int has_scheme(const char *s, size_t n) {
  if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return 0;
  for (size_t i = 1; i < n; i++) {
    char c = s[i];
    if (c == ':') return 1;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-')) return 0;
  }
  return 0;
}

/* Node writes header values as Latin-1 and throws on anything else. */
static int header_latin1(buf_t *out, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    uint32_t cp = u[i];
    size_t k = 1;
    if (u[i] >= 0xC2 && u[i] <= 0xDF && i + 1 < n && (u[i + 1] & 0xC0) == 0x80) {
      cp = ((uint32_t)(u[i] & 0x1F) << 6) | (u[i + 1] & 0x3F);
      k = 2;
    } else if (u[i] >= 0xE0 && u[i] <= 0xF4 && i + 2 < n && (u[i + 1] & 0xC0) == 0x80 && (u[i + 2] & 0xC0) == 0x80) {
      return 0; /* a character above U+00FF */
    }
    if (!(cp == '\t' || (cp >= 0x20 && cp <= 0x7E) || (cp >= 0x80 && cp <= 0xFF))) return 0;
    buf_addc(out, (char)cp);
    i += k;
  }
  return 1;
}

static void html_escape(buf_t *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
      case '&': buf_adds(out, "&amp;"); break;
      case '<': buf_adds(out, "&lt;"); break;
      case '>': buf_adds(out, "&gt;"); break;
      case '"': buf_adds(out, "&#34;"); break;
      case '\'': buf_adds(out, "&#39;"); break;
      default: buf_addc(out, s[i]);
    }
  }
}

/* Go's http.Redirect as common.ts has it: relative locations resolved against the request path. */
void http_redirect(const req_t *q, resp_t *r, const char *loc, size_t ln, int code, buf_t *panic) {
  buf_t url;
  buf_init(&url);
  if (!has_scheme(loc, ln) && !(ln >= 2 && loc[0] == '/' && loc[1] == '/')) {
    const char *t = q->target;
    size_t tn = q->target_len;
    const char *qm = memchr(t, '?', tn);
    size_t rp = qm ? (size_t)(qm - t) : tn;
    const char *reqPath = rp ? t : "/";
    if (!rp) rp = 1;
    const char *lq = memchr(loc, '?', ln);
    size_t un = lq ? (size_t)(lq - loc) : ln;
    buf_t u;
    buf_init(&u);
    if (un == 0 || loc[0] != '/') {
      size_t dn = rp;
      if (reqPath[rp - 1] != '/') {
        while (dn > 0 && reqPath[dn - 1] != '/') dn--;
      }
      buf_add(&u, reqPath, dn);
    }
    buf_add(&u, loc, un);
    int trailing = u.n > 0 && u.p[u.n - 1] == '/';
    clean_path(&url, u.p ? u.p : "", u.n);
    if (trailing && url.p[url.n - 1] != '/') buf_addc(&url, '/');
    if (lq) buf_add(&url, lq, ln - un);
    buf_free(&u);
  } else {
    buf_add(&url, loc, ln);
  }
  buf_t hv;
  buf_init(&hv);
  if (!header_latin1(&hv, url.p ? url.p : "", url.n)) {
    buf_adds(panic, "Invalid character in header content [\"Location\"]");
    buf_free(&hv);
    buf_free(&url);
    return;
  }
  resp_header(r, "Location", hv.p ? hv.p : "", hv.n);
  buf_free(&hv);
  buf_t body;
  buf_init(&body);
  int get = (q->method_len == 3 && !memcmp(q->method, "GET", 3)) || q->head;
  if (get) {
    resp_header(r, "Content-Type", "text/html; charset=utf-8", 24);
    char tmp[32];
    buf_adds(&body, "<a href=\"");
    html_escape(&body, url.p ? url.p : "", url.n);
    bf(&body, "\">%s</a>.\n\n", status_text(code, tmp, sizeof tmp));
  }
  resp_send_buf(r, code, &body);
  buf_free(&url);
}

/* ---------------- the request as handlers see it ---------------- */

static int method_is(const req_t *q, const char *m) {
  size_t n = strlen(m);
  return q->hmethod_len == n && !memcmp(q->hmethod, m, n);
}

typedef struct {
  const char *name;
  size_t nn;
  int has_fn;
  const char *data;
  size_t dn;
} part_t;

/* /\b<attr>="([^"]*)"/i in s */
static int disp_attr(const char *s, size_t n, const char *attr, const char **v, size_t *vn) {
  size_t an = strlen(attr);
  for (size_t i = 0; i + an + 2 <= n; i++) {
    if (i > 0 && is_word((unsigned char)s[i - 1])) continue;
    if (!ci_prefix(s + i, n - i, attr) || s[i + an] != '=' || s[i + an + 1] != '"') continue;
    const char *start = s + i + an + 2;
    const char *end = memchr(start, '"', (size_t)(s + n - start));
    if (!end) return 0;
    *v = start;
    *vn = (size_t)(end - start);
    return 1;
  }
  return 0;
}

static int js_space_byte(unsigned char c) { return (c >= 9 && c <= 13) || c == ' ' || c == 0xA0; }

/* netexec.ts parseMultipart; 0 where it returns undefined */
static int parse_multipart(const char *body, size_t bn, const char *ct, size_t ctn, part_t **parts, size_t *np) {
  const char *bd = NULL;
  size_t bdn = 0;
  for (const char *p = ct; p && p < ct + ctn;) {
    const char *m = ci_find(p, (size_t)(ct + ctn - p), "boundary=");
    if (!m) break;
    const char *v = m + 9;
    size_t left = (size_t)(ct + ctn - v);
    if (left >= 2 && v[0] == '"') {
      const char *q = memchr(v + 1, '"', left - 1);
      if (q && q > v + 1) {
        bd = v + 1;
        bdn = (size_t)(q - v - 1);
        break;
      }
    }
    size_t k = 0;
    while (k < left && v[k] != ';' && !js_space_byte((unsigned char)v[k])) k++;
    if (k > 0) {
      bd = v;
      bdn = k;
      break;
    }
    p = m + 1;
  }
  if (!bd) return 0;
  buf_t b, crb;
  buf_init(&b);
  buf_init(&crb);
  buf_add(&b, "--", 2);
  buf_add(&b, bd, bdn);
  buf_add(&crb, "\r\n", 2);
  buf_add(&crb, b.p, b.n);
  int ok = 0;
  size_t cap = 0;
  *parts = NULL;
  *np = 0;
  const char *f = bn ? memmem(body, bn, b.p, b.n) : NULL;
  if (!f) goto out;
  size_t pos = (size_t)(f - body);
  for (;;) {
    pos += b.n;
    if (pos + 2 <= bn && body[pos] == '-' && body[pos + 1] == '-') break;
    if (pos < bn && body[pos] == '\r') pos++;
    if (pos < bn && body[pos] == '\n') pos++;
    const char *he = pos < bn ? memmem(body + pos, bn - pos, "\r\n\r\n", 4) : NULL;
    if (!he) goto out;
    size_t hend = (size_t)(he - body);
    const char *nx = hend + 4 < bn ? memmem(body + hend + 4, bn - hend - 4, crb.p, crb.n) : NULL;
    if (!nx) goto out;
    size_t next = (size_t)(nx - body);
    part_t pt = {"", 0, 0, body + hend + 4, next - hend - 4};
    const char *hs = body + pos;
    size_t hn = hend - pos;
    const char *disp = ci_find(hs, hn, "content-disposition:");
    if (disp) {
      size_t dn = 0;
      while (disp + dn < hs + hn && disp[dn] != '\r' && disp[dn] != '\n') dn++;
      const char *v;
      size_t vn;
      if (disp_attr(disp, dn, "name", &v, &vn)) {
        pt.name = v;
        pt.nn = vn;
      }
      if (disp_attr(disp, dn, "filename", &v, &vn)) pt.has_fn = 1;
    }
    if (*np == cap) {
      cap = cap ? cap * 2 : 8;
      *parts = xrealloc(*parts, cap * sizeof **parts);
    }
    (*parts)[(*np)++] = pt;
    pos = next + 2;
  }
  ok = 1;
out:
  if (!ok) {
    free(*parts);
    *parts = NULL;
    *np = 0;
  }
  buf_free(&b);
  buf_free(&crb);
  return ok;
}

/* The Content-Type the handlers see: none for --http-override's synthetic request */
static const char *req_ctype(const req_t *q, size_t *n) {
  *n = q->synthetic ? 0 : q->ctype_len;
  return q->synthetic ? "" : (q->ctype ? q->ctype : "");
}

/* Go's Request.FormValue as netexec.ts has it: body values first (POST/PUT/PATCH), then the query. */
static void form_value(const req_t *q, const char *key, buf_t *out) {
  buf_reset(out);
  int body_method = !q->synthetic && (method_is(q, "POST") || method_is(q, "PUT") || method_is(q, "PATCH"));
  size_t ctn;
  const char *ct = req_ctype(q, &ctn);
  if (body_method && ci_prefix(ct, ctn, "application/x-www-form-urlencoded")) {
    buf_t s;
    buf_init(&s);
    utf8_sanitize(&s, q->body.p ? q->body.p : "", q->body.n);
    int found = query_get(s.p ? s.p : "", s.n, key, out);
    buf_free(&s);
    if (found) return;
  }
  if (body_method && ci_prefix(ct, ctn, "multipart/form-data")) {
    part_t *parts;
    size_t np;
    if (parse_multipart(q->body.p ? q->body.p : "", q->body.n, ct, ctn, &parts, &np)) {
      for (size_t i = 0; i < np; i++) {
        if (!parts[i].has_fn && bytes_eq(parts[i].name, parts[i].nn, key, strlen(key))) {
          utf8_sanitize(out, parts[i].data, parts[i].dn);
          free(parts);
          return;
        }
      }
      free(parts);
    }
  }
  query_get(q->rawq.p ? q->rawq.p : "", q->rawq.n, key, out);
}

/* ---------------- handlers ---------------- */

static void h_root(req_t *q, resp_t *r) {
  (void)q;
  logmsg("GET /");
  buf_t b;
  buf_init(&b);
  buf_adds(&b, "NOW: ");
  go_now(&b);
  resp_send_buf(r, 200, &b);
}

/* A status code from a query argument; out-of-range ones become 0, which finish_send refuses */
static int status_arg(long long c) { return c < -1000000 || c > 1000000 ? 0 : (int)c; }

/* The 200 answer upstream gives a query argument it cannot parse: "<msg>, got "<value>"\n". */
static void arg_error(resp_t *r, const char *msg, const buf_t *v) {
  buf_t b;
  buf_init(&b);
  bf(&b, "%s, got ", msg);
  js_json_str(&b, v->p ? v->p : "", v->n);
  buf_addc(&b, '\n');
  resp_send_buf(r, 200, &b);
}

static void h_echo(req_t *q, resp_t *r) {
  buf_t msg, code;
  buf_init(&msg);
  buf_init(&code);
  form_value(q, "msg", &msg);
  form_value(q, "code", &code);
  logmsg("GET /echo?msg=%S&code=%S", &msg, &code);
  long long c = 200;
  if (code.n && 1 != js_atoi(code.p, code.n, &c)) {
    arg_error(r, "argument 'code' must be an integer or empty", &code);
  } else {
    resp_send_buf(r, status_arg(c), &msg);
  }
  buf_free(&msg);
  buf_free(&code);
}

static void h_clientip(req_t *q, resp_t *r) {
  logmsg("GET /clientip");
  const char *a = q->synthetic ? "" : q->remote;
  resp_send(r, 200, a, strlen(a));
}

/* Node reads header values as Latin-1 and writes strings out as UTF-8: bytes above 0x7F come
 * out as two, as the TypeScript netexec has always answered. */
static void latin1_to_utf8(buf_t *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
      buf_addc(out, (char)c);
    } else {
      char t[2] = {(char)(0xC0 | (c >> 6)), (char)(0x80 | (c & 0x3F))};
      buf_add(out, t, 2);
    }
  }
}

/* Go's textproto.CanonicalMIMEHeaderKey */
static void canonical_key(buf_t *out, const char *k, size_t n) {
  int token = n > 0;
  for (size_t i = 0; i < n; i++)
    if (!is_tchar((unsigned char)k[i])) token = 0;
  if (!token) {
    buf_add(out, k, n);
    return;
  }
  int up = 1;
  for (size_t i = 0; i < n; i++) {
    char c = k[i];
    if (up && c >= 'a' && c <= 'z') c = (char)(c - 32);
    else if (!up && c >= 'A' && c <= 'Z') c = (char)(c + 32);
    buf_addc(out, c);
    up = c == '-';
  }
}

static void h_header(req_t *q, resp_t *r) {
  buf_t key;
  buf_init(&key);
  form_value(q, "key", &key);
  size_t nh = q->synthetic ? 0 : q->nhdr;
  /* canonical names of the headers, Host left out as Go moves it out of Request.Header */
  char **names = xmalloc((nh ? nh : 1) * sizeof *names);
  for (size_t i = 0; i < nh; i++) {
    buf_t k;
    buf_init(&k);
    canonical_key(&k, q->hdrs[i].name, q->hdrs[i].nlen);
    names[i] = k.p;
  }
  if (key.n) {
    logmsg("GET /header?key=%S", &key);
    buf_t want;
    buf_init(&want);
    canonical_key(&want, key.p, key.n);
    buf_t v;
    buf_init(&v);
    if (strcmp(want.p, "Host") != 0 && strlen(want.p) == want.n) {
      for (size_t i = 0; i < nh; i++) {
        if (!strcmp(names[i], want.p)) {
          latin1_to_utf8(&v, q->hdrs[i].val, q->hdrs[i].vlen);
          break;
        }
      }
    }
    resp_send_buf(r, 200, &v);
    buf_free(&want);
  } else {
    logmsg("GET /header");
    char **uniq = xmalloc((nh ? nh : 1) * sizeof *uniq);
    size_t nu = 0;
    for (size_t i = 0; i < nh; i++) {
      if (!strcmp(names[i], "Host")) continue;
      size_t k = 0;
      while (k < nu && strcmp(uniq[k], names[i])) k++;
      if (k == nu) uniq[nu++] = names[i];
    }
    json_map_key_sort(uniq, nu);
    buf_t b;
    buf_init(&b);
    buf_addc(&b, '{');
    for (size_t k = 0; k < nu; k++) {
      if (k) buf_addc(&b, ',');
      go_json_str(&b, uniq[k], strlen(uniq[k]));
      buf_add(&b, ":[", 2);
      int first = 1;
      for (size_t i = 0; i < nh; i++) {
        if (strcmp(names[i], uniq[k])) continue;
        if (!first) buf_addc(&b, ',');
        first = 0;
        buf_t v;
        buf_init(&v);
        latin1_to_utf8(&v, q->hdrs[i].val, q->hdrs[i].vlen);
        go_json_str(&b, v.p ? v.p : "", v.n);
        buf_free(&v);
      }
      buf_addc(&b, ']');
    }
    buf_addc(&b, '}');
    resp_send_buf(r, 200, &b);
    free(uniq);
  }
  for (size_t i = 0; i < nh; i++) free(names[i]);
  free(names);
  buf_free(&key);
}

static void h_hostname(req_t *q, resp_t *r, const char *which) {
  (void)q;
  logmsg("GET %s", which);
  buf_t h;
  buf_init(&h);
  get_hostname(&h);
  resp_send_buf(r, 200, &h);
}

static void h_healthz(req_t *q, resp_t *r) {
  (void)q;
  logmsg("GET /healthz");
  resp_send(r, atomic_load(&server_ready) ? 200 : 412, "", 0);
}

static void h_readyz(req_t *q, resp_t *r) {
  (void)q;
  logmsg("GET /readyz");
  if (atomic_load(&sigterm_received)) resp_send(r, 503, "shutting down", 13);
  else if (atomic_load(&server_ready)) resp_send(r, 200, "ok", 2);
  else resp_send(r, 412, "", 0);
}

static void h_shutdown(req_t *q, resp_t *r) {
  (void)q;
  (void)r;
  logmsg("GET /shutdown");
  exit_now(0);
}

/* ---- /exit: graceful shutdown ---- */

static atomic_int graceful_started, graceful_done;
static int graceful_code;

void graceful_finish(const char *result) {
  if (atomic_exchange(&graceful_done, 1)) return;
  logmsg("Graceful shutdown completed with: %s", result);
  exit_now(graceful_code);
}

static void *graceful_timer(void *arg) {
  double ms = *(double *)arg;
  free(arg);
  sleep_timer_ms(ms);
  graceful_finish("context deadline exceeded");
  return NULL;
}

void graceful_exit(int code, double timeout_ms) {
  if (atomic_exchange(&graceful_started, 1)) return;
  graceful_code = code;
  double *arg = xmalloc(sizeof *arg);
  *arg = timeout_ms;
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, graceful_timer, arg) != 0) {
    free(arg);
    graceful_finish("context deadline exceeded");
  }
  pthread_attr_destroy(&attr);
  http_stop_accepting();
  http_close_idle();
}

static void h_exit(req_t *q, resp_t *r) {
  buf_t waits, timeouts, codes;
  buf_init(&waits);
  buf_init(&timeouts);
  buf_init(&codes);
  form_value(q, "wait", &waits);
  form_value(q, "timeout", &timeouts);
  form_value(q, "code", &codes);
  logmsg("GET /exit?code=%S&timeout=%S&wait=%S", &codes, &timeouts, &waits);
  double timeout = 0, wait = 0;
  long long code = 0;
  if (timeouts.n && !go_duration_ms(timeouts.p, timeouts.n, &timeout, NULL)) {
    arg_error(r, "argument 'timeout' must be a valid golang duration or empty", &timeouts);
  } else if (waits.n && !go_duration_ms(waits.p, waits.n, &wait, NULL)) {
    arg_error(r, "argument 'wait' must be a valid golang duration or empty", &waits);
  } else if (codes.n && 1 != js_atoi(codes.p, codes.n, &code)) {
    arg_error(r, "argument 'code' must be an integer [0-127] or empty", &codes);
  } else {
    logmsg("Will begin shutdown in %V, allowing %V for connections to close, then will exit with %L", waits.n ? waits.p : "0s",
           waits.n ? waits.n : (size_t)2, timeouts.n ? timeouts.p : "0s", timeouts.n ? timeouts.n : (size_t)2, code);
    if (wait > 0) sleep_timer_ms(wait);
    int exit_code = (int)((unsigned long long)code & 0xff);
    if (timeout <= 0) exit_now(exit_code);
    /* graceful: this request completes (200, empty), the server stops accepting, and the process
     * exits once connections are closed or the timeout passes */
    resp_send(r, 200, "", 0);
    graceful_exit(exit_code, timeout);
  }
  buf_free(&waits);
  buf_free(&timeouts);
  buf_free(&codes);
}

static void h_redirect(req_t *q, resp_t *r, buf_t *panic) {
  buf_t loc, codes;
  buf_init(&loc);
  buf_init(&codes);
  form_value(q, "location", &loc);
  form_value(q, "code", &codes);
  logmsg("%V /redirect?msg=%S&code=%S", q->hmethod, q->hmethod_len, &loc, &codes);
  long long code = 302;
  if (codes.n && 1 != js_atoi(codes.p, codes.n, &code)) {
    arg_error(r, "argument 'code' must be an integer or empty", &codes);
  } else {
    http_redirect(q, r, loc.p ? loc.p : "", loc.n, status_arg(code), panic);
  }
  buf_free(&loc);
  buf_free(&codes);
}

/* ---- /shell ---- */

static const char *signal_text(int sig, char *tmp, size_t n) {
  switch (sig) {
    case SIGKILL: return "killed";
    case SIGTERM: return "terminated";
    case SIGINT: return "interrupt";
    case SIGSEGV: return "segmentation fault";
    case SIGABRT: return "aborted";
    case SIGHUP: return "hangup";
    case SIGPIPE: return "broken pipe";
    case SIGQUIT: return "quit";
    case SIGUSR1: return "user defined signal 1";
    case SIGUSR2: return "user defined signal 2";
    case SIGALRM: return "alarm clock";
    default: {
      const char *a = sigabbrev_np(sig);
      if (a) snprintf(tmp, n, "SIG%s", a);
      else snprintf(tmp, n, "%d", sig);
      return tmp;
    }
  }
}

/* `sh -c cmd` with stdout and stderr on one pipe (Go's CombinedOutput); Go's error strings. */
static void run_shell(const char *cmd, size_t cn, buf_t *output, buf_t *error) {
  const char *sh = "/bin/sh";
  if (memchr(cmd, 0, cn)) {
    bf(error, "fork/exec %s: invalid argument", sh);
    return;
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    bf(error, "fork/exec %s: %s", sh, uv_errno_text(errno));
    return;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_adddup2(&fa, p[1], 2);
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char *argv[] = {(char *)sh, (char *)"-c", (char *)cmd, NULL};
  pid_t pid;
  int e = posix_spawn(&pid, sh, &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(p[1]);
  if (e != 0) {
    close(p[0]);
    if (e == ENOENT) bf(error, "fork/exec %s: no such file or directory", sh);
    else bf(error, "fork/exec %s: spawn %s %s", sh, sh, errno_name(e));
    return;
  }
  char chunk[16384];
  for (;;) {
    ssize_t n = read(p[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output->n < BODY_LIMIT) buf_add(output, chunk, (size_t)n); /* beyond that: drained, dropped */
  }
  close(p[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return;
  }
  if (WIFSIGNALED(st)) {
    char tmp[32];
    bf(error, "signal: %s", signal_text(WTERMSIG(st), tmp, sizeof tmp));
  } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
    bf(error, "exit status %d", WEXITSTATUS(st));
  }
}

static void h_shell(req_t *q, resp_t *r) {
  buf_t cmd, raw, out, err;
  buf_init(&cmd);
  buf_init(&raw);
  buf_init(&out);
  buf_init(&err);
  form_value(q, "shellCommand", &cmd);
  if (cmd.n == 0) form_value(q, "cmd", &cmd);
  logmsg("GET /shell?cmd=%S", &cmd);
  run_shell(cmd.p ? cmd.p : "", cmd.n, &raw, &err);
  utf8_sanitize(&out, raw.p ? raw.p : "", raw.n);
  buf_t line, b;
  buf_init(&line);
  buf_init(&b);
  buf_adds(&line, "Output: map[");
  buf_addc(&b, '{');
  if (err.n) {
    bf(&line, "error:%S", &err);
    buf_adds(&b, "\"error\":");
    go_json_str(&b, err.p, err.n);
  }
  if (raw.n) {
    bf(&line, "%soutput:%S", err.n ? " " : "", &out);
    bf(&b, "%s\"output\":", err.n ? "," : "");
    go_json_str(&b, out.p, out.n);
  }
  buf_addc(&line, ']');
  buf_addc(&b, '}');
  logbuf(&line);
  resp_send_buf(r, 200, &b);
  buf_free(&line);
  buf_free(&cmd);
  buf_free(&raw);
  buf_free(&out);
  buf_free(&err);
}

/* ---- /upload ---- */

static void upload_fail(resp_t *r, const char *msg, const buf_t *detail) {
  size_t mn = strlen(msg);
  logmsg("%V: %S", msg, mn > 0 && msg[mn - 1] == '.' ? mn - 1 : mn, detail);
  buf_t b;
  buf_init(&b);
  buf_adds(&b, "{\"error\":");
  go_json_str(&b, msg, mn);
  buf_addc(&b, '}');
  resp_send_buf(r, 200, &b);
}

/* path.join(dir, name) for the upload directory (posix.normalize of the joined path) */
static void join_path(buf_t *out, const char *dir, const char *name) {
  buf_t p;
  buf_init(&p);
  bf(&p, "%s/%s", dir, name);
  int abs = p.p[0] == '/';
  buf_t segs;
  buf_init(&segs);
  size_t i = 0, n = p.n, depth = 0;
  while (i < n) {
    while (i < n && p.p[i] == '/') i++;
    size_t s = i;
    while (i < n && p.p[i] != '/') i++;
    size_t len = i - s;
    if (len == 0 || (len == 1 && p.p[s] == '.')) continue;
    if (len == 2 && p.p[s] == '.' && p.p[s + 1] == '.') {
      if (depth > 0) {
        size_t k = segs.n;
        while (k > 0 && segs.p[k - 1] != '/') k--;
        segs.n = k > 0 ? k - 1 : 0;
        depth--;
        continue;
      }
      if (abs) continue;
      if (segs.n) buf_addc(&segs, '/');
      buf_add(&segs, "..", 2);
      continue;
    }
    if (segs.n) buf_addc(&segs, '/');
    buf_add(&segs, p.p + s, len);
    depth++;
  }
  if (abs) buf_addc(out, '/');
  buf_add(out, segs.p ? segs.p : "", segs.n);
  if (out->n == 0) buf_addc(out, '.');
  buf_free(&p);
  buf_free(&segs);
}

static void node_fs_error(buf_t *out, int e, const char *syscall, const char *path) {
  if (path) bf(out, "%s: %s, %s '%s'", errno_name(e), uv_errno_text(e), syscall, path);
  else bf(out, "%s: %s, %s", errno_name(e), uv_errno_text(e), syscall);
}

static void h_upload(req_t *q, resp_t *r) {
  logmsg("GET /upload");
  part_t *parts = NULL;
  size_t np = 0;
  int have = 0;
  size_t ctn;
  const char *ct = req_ctype(q, &ctn);
  if (!q->synthetic && ci_prefix(ct, ctn, "multipart/form-data") && method_is(q, "POST"))
    have = parse_multipart(q->body.p ? q->body.p : "", q->body.n, ct, ctn, &parts, &np);
  const part_t *file = NULL;
  for (size_t i = 0; have && i < np && !file; i++)
    if (parts[i].has_fn && bytes_eq(parts[i].name, parts[i].nn, "file", 4)) file = &parts[i];
  buf_t detail, name;
  buf_init(&detail);
  buf_init(&name);
  if (!file) {
    buf_adds(&detail, have ? "http: no such file" : "request Content-Type isn't multipart/form-data");
    upload_fail(r, "Unable to upload file.", &detail);
    goto out;
  }
  const char *dir = getenv("PODNET_AGNHOST_UPLOAD_DIR");
  if (!dir || !*dir) dir = "/uploads";
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    char leaf[32];
    snprintf(leaf, sizeof leaf, "upload%llu", 1000000000ULL + (unsigned long long)((double)random_u32() / 4294967296.0 * 3294967295.0));
    buf_reset(&name);
    join_path(&name, dir, leaf);
    fd = open(name.p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) {
      bf(&detail, "open %S: ", &name);
      node_fs_error(&detail, errno, "open", name.p);
      upload_fail(r, "Unable to open file for write", &detail);
      goto out;
    }
  }
  for (size_t off = 0; off < file->dn;) {
    ssize_t w = fd < 0 ? (errno = EBADF, -1) : write(fd, file->data + off, file->dn - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      node_fs_error(&detail, errno, "write", NULL);
      if (fd >= 0) close(fd);
      upload_fail(r, "Unable to write file.", &detail);
      goto out;
    }
    off += (size_t)w;
  }
  if (fd >= 0) close(fd);
  if (chmod(name.p, 0700) != 0) {
    node_fs_error(&detail, errno, "chmod", name.p);
    upload_fail(r, "Unable to chmod file.", &detail);
    goto out;
  }
  logmsg("Wrote upload to %S", &name);
  buf_t b;
  buf_init(&b);
  buf_adds(&b, "{\"output\":");
  go_json_str(&b, name.p, name.n);
  buf_addc(&b, '}');
  resp_send_buf(r, 201, &b);
out:
  free(parts);
  buf_free(&detail);
  buf_free(&name);
}

/* ---------------- routing ---------------- */

/* netexec.ts splitTarget: the path (decoded) and raw query of a request target */
static void split_target(const char *t, size_t n, buf_t *path, buf_t *rawq) {
  buf_reset(path);
  buf_reset(rawq);
  const char *hash = memchr(t, '#', n);
  if (hash) n = (size_t)(hash - t);
  size_t i = 0;
  if (n > 0 && ((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z')) {
    i = 1;
    while (i < n && (((t[i] | 0x20) >= 'a' && (t[i] | 0x20) <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '+' || t[i] == '.' || t[i] == '-')) i++;
    if (i + 2 < n && t[i] == ':' && t[i + 1] == '/' && t[i + 2] == '/') {
      url_t u;
      url_init(&u);
      if (url_parse(&u, t, n, NULL)) {
        buf_add(path, u.path.p ? u.path.p : "/", u.path.n ? u.path.n : 1);
        if (u.has_query) buf_add(rawq, u.query.p ? u.query.p : "", u.query.n);
      } else {
        buf_addc(path, '/');
      }
      url_free(&u);
      return;
    }
  }
  const char *qm = memchr(t, '?', n);
  size_t pn = qm ? (size_t)(qm - t) : n;
  if (!uri_decode(path, t, pn)) {
    buf_reset(path);
    buf_add(path, t, pn);
  }
  if (path->n == 0) buf_addc(path, '/');
  if (qm) buf_add(rawq, qm + 1, n - pn - 1);
}

static int path_is(const req_t *q, const char *p) { return bytes_eq(q->path.p, q->path.n, p, strlen(p)); }

void serve_request(req_t *q, resp_t *r, buf_t *panic) {
  if (opts.http_override[0]) {
    q->synthetic = 1;
    q->hmethod = "GET";
    q->hmethod_len = 3;
    split_target(opts.http_override, strlen(opts.http_override), &q->path, &q->rawq);
  } else {
    q->hmethod = q->method;
    q->hmethod_len = q->method_len;
    split_target(q->target, q->target_len, &q->path, &q->rawq);
  }
  if (!method_is(q, "CONNECT")) {
    buf_t clean;
    buf_init(&clean);
    clean_path(&clean, q->path.p, q->path.n);
    if (!bytes_eq(clean.p, clean.n, q->path.p, q->path.n)) {
      if (q->rawq.n) bf(&clean, "?%S", &q->rawq);
      http_redirect(q, r, clean.p, clean.n, 301, panic);
      buf_free(&clean);
      return;
    }
    buf_free(&clean);
  }
  if (path_is(q, "/clientip")) h_clientip(q, r);
  else if (path_is(q, "/header")) h_header(q, r);
  else if (path_is(q, "/dial")) dial_handler(q, r);
  else if (path_is(q, "/echo")) h_echo(q, r);
  else if (path_is(q, "/exit")) h_exit(q, r);
  else if (path_is(q, "/healthz")) h_healthz(q, r);
  else if (path_is(q, "/readyz")) h_readyz(q, r);
  else if (path_is(q, "/hostname")) h_hostname(q, r, "/hostname");
  else if (path_is(q, "/redirect")) h_redirect(q, r, panic);
  else if (path_is(q, "/shell")) h_shell(q, r);
  else if (path_is(q, "/upload")) h_upload(q, r);
  else if (path_is(q, "/hostName")) h_hostname(q, r, "/hostName");
  else if (path_is(q, "/shutdown")) h_shutdown(q, r);
  else h_root(q, r);
}

/* ---------------- UDP server ---------------- */

static void *udp_main(void *arg) {
  int fd = (int)(intptr_t)arg;
  char msg[2048];
  for (;;) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t n = recvfrom(fd, msg, sizeof msg, 0, (struct sockaddr *)&ss, &sl);
    if (n < 0) {
      if (errno != EINTR) usleep(1000);
      continue;
    }
    char client[80];
    host_port(client, sizeof client, (struct sockaddr *)&ss);
    buf_t text, reply;
    buf_init(&text);
    buf_init(&reply);
    utf8_trim_lower(&text, msg, (size_t)n);
    int send_it = 1;
    if (bytes_eq(text.p, text.n, "hostname", 8)) {
      logmsg("Sending udp hostName response");
      get_hostname(&reply);
    } else if (text.n >= 5 && !memcmp(text.p, "echo ", 5)) {
      buf_add(&reply, text.p + 5, text.n - 5);
      logmsg("Echoing %S to UDP client %s", &reply, client);
    } else if (bytes_eq(text.p, text.n, "clientip", 8)) {
      logmsg("Sending clientip back to UDP client %s", client);
      buf_adds(&reply, client);
    } else {
      if (text.n > 0) logmsg("Unknown UDP command received from %s: %S", client, &text);
      send_it = 0;
    }
    if (send_it) sendto(fd, reply.p ? reply.p : "", reply.n, MSG_NOSIGNAL, (struct sockaddr *)&ss, sl);
    buf_free(&text);
    buf_free(&reply);
  }
  return NULL;
}

/* Binds one UDP server; on failure returns -1 with the fatal message in err. */
static int udp_bind(const char *address, int port, buf_t *err) {
  int fam = 6;
  if (*address) is_ip_literal(address, &fam);
  int e = 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    int v4 = fam == 4 || attempt == 1;
    int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      int rc;
      if (v4) {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        if (*address && attempt == 0) inet_pton(AF_INET, address, &a.sin_addr);
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
      } else {
        int off = 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        struct sockaddr_in6 a;
        memset(&a, 0, sizeof a);
        a.sin6_family = AF_INET6;
        a.sin6_port = htons((uint16_t)port);
        if (*address) inet_pton(AF_INET6, address, &a.sin6_addr);
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
      }
      if (rc == 0) return fd;
      e = errno;
      close(fd);
    } else {
      e = errno;
    }
    /* only the wildcard falls back from [::] to 0.0.0.0 */
    if (*address || v4 || !(e == EAFNOSUPPORT || e == EADDRNOTAVAIL || e == EINVAL)) break;
  }
  buf_t display;
  buf_init(&display);
  if (strchr(address, ':')) bf(&display, "[%s]:%d", address, port);
  else bf(&display, "%s:%d", address, port);
  const char *reason = bind_error_text(e);
  bf(err, "Error occurred: failed to create listener for UDP address %S:listen udp %S: ", &display, &display);
  if (reason) buf_adds(err, reason);
  else bf(err, "bind %s %s:%d", errno_name(e), *address ? address : (fam == 4 ? "0.0.0.0" : "::"), port);
  buf_free(&display);
  return -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* --udp-listen-addresses: sorted unique literals, or [""] for the wildcard; 0 if one is no IP */
static int udp_addresses(const char *list, char ***out, size_t *n) {
  *n = 0;
  *out = xmalloc(sizeof **out);
  if (!*list) {
    (*out)[(*n)++] = xstrdup("");
    return 1;
  }
  char *copy = xstrdup(list);
  size_t cap = 1;
  for (char *s = copy;;) {
    char *comma = strchr(s, ',');
    if (comma) *comma = 0;
    int fam;
    if (!is_ip_literal(s, &fam)) {
      free(copy);
      return 0;
    }
    size_t k = 0;
    while (k < *n && strcmp((*out)[k], s)) k++;
    if (k == *n) {
      if (*n == cap) {
        cap *= 2;
        *out = xrealloc(*out, cap * sizeof **out);
      }
      (*out)[(*n)++] = xstrdup(s);
    }
    if (!comma) break;
    s = comma + 1;
  }
  free(copy);
  qsort(*out, *n, sizeof **out, cmp_str);
  return 1;
}

/* ---------------- signals ---------------- */

static void *signal_main(void *arg) {
  (void)arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  for (;;) {
    int sig;
    if (sigwait(&set, &sig) != 0) continue;
    if (atomic_exchange(&sigterm_received, 1)) continue;
    if (opts.delay_shutdown > 0) {
      logmsg("Sleeping %L seconds before terminating...", opts.delay_shutdown);
      sleep_timer_ms((double)opts.delay_shutdown * 1000);
    }
    exit_now(0);
  }
  return NULL;
}

static void start_thread(void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  if (pthread_create(&t, &attr, fn, arg) != 0) fatal("pthread_create: %s", strerror(errno));
  pthread_attr_destroy(&attr);
}

int main(int argc, char **argv) {
  if (!parse_args(argc, argv)) hand_over(argc, argv);
  /* values the TypeScript netexec would fail on (Node throws on bad ports, clamps long timers) */
  if (http_port_v < 0 || http_port_v > 65535 || (udp_port_v != -1 && (udp_port_v < 0 || udp_port_v > 65535)) || delay_v > 2147483) hand_over(argc, argv);
  char **addrs = NULL;
  size_t naddrs = 0;
  if (udp_port_v != -1 && !udp_addresses(udp_addrs_v, &addrs, &naddrs)) hand_over(argc, argv);

  opts.http_port = (int)http_port_v;
  opts.udp_port = (int)udp_port_v;
  opts.sctp_port = sctp_port_v;
  opts.delay_shutdown = delay_v;
  opts.http_override = override_v;

  /* a small footprint: one malloc arena, large buffers (request bodies) given back on free */
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  tzset();
  process_start_init();
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  start_thread(signal_main, NULL);

  buf_t udp_err;
  buf_init(&udp_err);
  for (size_t i = 0; i < naddrs; i++) {
    buf_t e;
    buf_init(&e);
    int fd = udp_bind(addrs[i], opts.udp_port, &e);
    if (fd < 0) {
      if (!udp_err.n) buf_move(&udp_err, &e);
      buf_free(&e);
      continue;
    }
    buf_free(&e);
    logmsg("Started UDP server on port %s %d", addrs[i], opts.udp_port);
    atomic_store(&server_ready, 1);
    start_thread(udp_main, (void *)(intptr_t)fd);
  }
  if (opts.sctp_port != -1) {
    logmsg("SCTP is not supported by this agnhost implementation (podnet); not listening on SCTP port %L", opts.sctp_port);
    /* upstream reports ready once its SCTP server runs; keep probes of SCTP-only pods working */
    atomic_store(&server_ready, 1);
  }
  logmsg("Started HTTP server on port %d", opts.http_port);
  if (udp_err.n) fatal("%S", &udp_err);
  buf_t err;
  buf_init(&err);
  int lfd = http_listen(opts.http_port, &err);
  if (lfd < 0) fatal("%S", &err);
  http_serve(lfd);
  for (;;) pause(); /* after /exit stopped accepting: exit comes from graceful_finish */
}
