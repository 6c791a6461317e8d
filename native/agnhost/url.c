/* The part of the WHATWG URL parser (new URL(input, base)) that /dial's redirects and
 * absolute-form request targets go through in netexec.ts: special (http-like) and
 * authority-based URLs; opaque ones ("mailto:x") are refused. */
#include "agnhost.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void url_init(url_t *u) {
  buf_init(&u->scheme);
  buf_init(&u->userinfo);
  buf_init(&u->host);
  buf_init(&u->path);
  buf_init(&u->query);
  buf_init(&u->frag);
  u->port = -1;
  u->has_query = u->has_frag = 0;
}

void url_free(url_t *u) {
  buf_free(&u->scheme);
  buf_free(&u->userinfo);
  buf_free(&u->host);
  buf_free(&u->path);
  buf_free(&u->query);
  buf_free(&u->frag);
}

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int default_port(const buf_t *scheme) {
  const char *s = scheme->p ? scheme->p : "";
  if (!strcmp(s, "http") || !strcmp(s, "ws")) return 80;
  if (!strcmp(s, "https") || !strcmp(s, "wss")) return 443;
  if (!strcmp(s, "ftp")) return 21;
  return -1;
}

static int is_special(const buf_t *scheme) {
  const char *s = scheme->p ? scheme->p : "";
  return default_port(scheme) >= 0 || !strcmp(s, "file");
}

static void pct_encode(buf_t *out, unsigned char c) {
  static const char hex[] = "0123456789ABCDEF";
  char e[3] = {'%', hex[c >> 4], hex[c & 15]};
  buf_add(out, e, 3);
}

static int in_path_set(unsigned char c) { return c < 0x20 || c > 0x7E || c == ' ' || c == '"' || c == '#' || c == '<' || c == '>' || c == '?' || c == '`' || c == '{' || c == '}'; }
static int in_query_set(unsigned char c, int special) { return c < 0x20 || c > 0x7E || c == ' ' || c == '"' || c == '#' || c == '<' || c == '>' || (special && c == '\''); }
static int in_frag_set(unsigned char c) { return c < 0x20 || c > 0x7E || c == ' ' || c == '"' || c == '<' || c == '>' || c == '`'; }

static int seg_is(const char *s, size_t n, int dots) {
  size_t i = 0;
  int seen = 0;
  while (i < n) {
    if (s[i] == '.') i++;
    else if (i + 3 <= n && s[i] == '%' && s[i + 1] == '2' && (s[i + 2] == 'e' || s[i + 2] == 'E')) i += 3;
    else return 0;
    seen++;
  }
  return seen == dots;
}

/* the URL standard's "shorten a path": drop the last segment */
static void path_shorten(buf_t *path) {
  if (path->n == 0) return;
  size_t k = path->n - 1;
  while (k > 0 && path->p[k] != '/') k--;
  path->n = k;
  path->p[k] = 0;
}

/* path state: segments of s (up to '?' / '#') appended to u->path ("/seg" each) */
static size_t parse_path(url_t *u, const char *s, size_t n, size_t i, int special) {
  buf_t seg;
  buf_init(&seg);
  for (;;) {
    unsigned char c = i < n ? (unsigned char)s[i] : 0;
    int end = i >= n || c == '?' || c == '#';
    int slash = !end && (c == '/' || (special && c == '\\'));
    if (end || slash) {
      if (seg_is(seg.p, seg.n, 2)) {
        path_shorten(&u->path);
        if (!slash) buf_addc(&u->path, '/');
      } else if (seg_is(seg.p, seg.n, 1)) {
        if (!slash) buf_addc(&u->path, '/');
      } else {
        buf_addc(&u->path, '/');
        buf_add(&u->path, seg.p, seg.n);
      }
      buf_reset(&seg);
      if (end) break;
      i++;
      continue;
    }
    if (in_path_set(c)) pct_encode(&seg, c);
    else buf_addc(&seg, (char)c);
    i++;
  }
  buf_free(&seg);
  return i;
}

static size_t parse_query_frag(url_t *u, const char *s, size_t n, size_t i, int special) {
  if (i < n && s[i] == '?') {
    u->has_query = 1;
    buf_reset(&u->query);
    i++;
    while (i < n && s[i] != '#') {
      unsigned char c = (unsigned char)s[i++];
      if (in_query_set(c, special)) pct_encode(&u->query, c);
      else buf_addc(&u->query, (char)c);
    }
  }
  if (i < n && s[i] == '#') {
    u->has_frag = 1;
    i++;
    while (i < n) {
      unsigned char c = (unsigned char)s[i++];
      if (in_frag_set(c)) pct_encode(&u->frag, c);
      else buf_addc(&u->frag, (char)c);
    }
  }
  return i;
}

static void ipv6_serialize(buf_t *out, const unsigned char a[16]) {
  unsigned pieces[8];
  for (int i = 0; i < 8; i++) pieces[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
  int best = -1, bestlen = 1;
  for (int i = 0; i < 8;) {
    if (pieces[i] != 0) {
      i++;
      continue;
    }
    int j = i;
    while (j < 8 && pieces[j] == 0) j++;
    if (j - i > bestlen) {
      best = i;
      bestlen = j - i;
    }
    i = j;
  }
  char t[8];
  for (int i = 0; i < 8; i++) {
    if (i == best) {
      buf_adds(out, i == 0 ? "::" : ":");
      i += bestlen - 1;
      continue;
    }
    snprintf(t, sizeof t, "%x", pieces[i]);
    buf_adds(out, t);
    if (i < 7) buf_addc(out, ':');
  }
}

/* host (without port): 0 when the URL parser would fail */
static int parse_host(url_t *u, const char *h, size_t n, int special) {
  buf_reset(&u->host);
  if (n > 0 && h[0] == '[') {
    if (h[n - 1] != ']' || n < 3 || n > 64) return 0;
    char tmp[64];
    memcpy(tmp, h + 1, n - 2);
    tmp[n - 2] = 0;
    unsigned char a[16];
    if (inet_pton(AF_INET6, tmp, a) != 1) return 0;
    buf_addc(&u->host, '[');
    ipv6_serialize(&u->host, a);
    buf_addc(&u->host, ']');
    return 1;
  }
  buf_t d;
  buf_init(&d);
  /* percent-decoding of a host is bytewise and lenient */
  for (size_t i = 0; i < n; i++) {
    if (h[i] == '%' && i + 2 < n && strchr("0123456789abcdefABCDEF", h[i + 1]) && strchr("0123456789abcdefABCDEF", h[i + 2])) {
      char x[3] = {h[i + 1], h[i + 2], 0};
      buf_addc(&d, (char)strtol(x, NULL, 16));
      i += 2;
    } else {
      buf_addc(&d, h[i]);
    }
  }
  if (!special) {
    buf_move(&u->host, &d);
    return 1;
  }
  if (d.n == 0) goto fail;
  for (size_t i = 0; i < d.n; i++) {
    unsigned char c = (unsigned char)d.p[i];
    if (c <= 0x20 || c == 0x7F || strchr("#%/:<>?@[\\]^|", c)) goto fail;
    if (c >= 'A' && c <= 'Z') d.p[i] = (char)(c + 32);
  }
  /* a host whose last label is a number is an IPv4 address (in any of inet_aton's forms) */
  size_t end = d.n;
  if (end > 0 && d.p[end - 1] == '.') end--;
  size_t ls = end;
  while (ls > 0 && d.p[ls - 1] != '.') ls--;
  int numeric = end > ls;
  if (numeric) {
    size_t k = ls;
    if (end - ls >= 2 && d.p[ls] == '0' && (d.p[ls + 1] == 'x' || d.p[ls + 1] == 'X')) {
      for (k = ls + 2; k < end; k++)
        if (!strchr("0123456789abcdefABCDEF", d.p[k])) numeric = 0;
    } else {
      for (; k < end; k++)
        if (!is_digit((unsigned char)d.p[k])) numeric = 0;
    }
  }
  if (numeric) {
    char tmp[256];
    if (end >= sizeof tmp) goto fail;
    memcpy(tmp, d.p, end);
    tmp[end] = 0;
    struct in_addr a;
    if (!inet_aton(tmp, &a)) goto fail;
    char out[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, out, sizeof out);
    buf_adds(&u->host, out);
    buf_free(&d);
    return 1;
  }
  buf_move(&u->host, &d);
  return 1;
fail:
  buf_free(&d);
  return 0;
}

/* authority at s[i..]: userinfo, host, port; returns the index after it, or (size_t)-1 */
static size_t parse_authority(url_t *u, const char *s, size_t n, size_t i, int special) {
  size_t e = i;
  while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#' && !(special && s[e] == '\\')) e++;
  const char *a = s + i;
  size_t an = e - i;
  const char *at = NULL;
  for (size_t k = 0; k < an; k++)
    if (a[k] == '@') at = a + k;
  buf_reset(&u->userinfo);
  if (at) {
    buf_add(&u->userinfo, a, (size_t)(at - a));
    an -= (size_t)(at - a) + 1;
    a = at + 1;
  }
  size_t hn = an;
  if (an > 0 && a[0] == '[') {
    const char *rb = memchr(a, ']', an);
    if (!rb) return (size_t)-1;
    hn = (size_t)(rb - a) + 1;
    if (hn < an && a[hn] != ':') return (size_t)-1;
  } else {
    const char *colon = memchr(a, ':', an);
    if (colon) hn = (size_t)(colon - a);
  }
  u->port = -1;
  if (hn < an) {
    const char *p = a + hn + 1;
    size_t pn = an - hn - 1;
    long v = 0;
    for (size_t k = 0; k < pn; k++) {
      if (!is_digit((unsigned char)p[k])) return (size_t)-1;
      v = v * 10 + (p[k] - '0');
      if (v > 65535) return (size_t)-1;
    }
    if (pn > 0) u->port = (int)v;
  }
  if (!parse_host(u, a, hn, special)) return (size_t)-1;
  if (u->port == default_port(&u->scheme)) u->port = -1;
  return e;
}

static void copy_buf(buf_t *dst, const buf_t *src) {
  buf_reset(dst);
  buf_add(dst, src->p ? src->p : "", src->n);
}

int url_parse(url_t *u, const char *in, size_t inn, const url_t *base) {
  buf_t clean;
  buf_init(&clean);
  size_t a = 0, b = inn;
  while (a < b && (unsigned char)in[a] <= 0x20) a++;
  while (b > a && (unsigned char)in[b - 1] <= 0x20) b--;
  for (size_t k = a; k < b; k++)
    if (in[k] != '\t' && in[k] != '\n' && in[k] != '\r') buf_addc(&clean, in[k]);
  const char *s = clean.p ? clean.p : "";
  size_t n = clean.n, i = 0;
  int ok = 0;

  size_t j = 0;
  int has_scheme = 0;
  if (n > 0 && is_alpha((unsigned char)s[0])) {
    j = 1;
    while (j < n && (is_alpha((unsigned char)s[j]) || is_digit((unsigned char)s[j]) || s[j] == '+' || s[j] == '-' || s[j] == '.')) j++;
    has_scheme = j < n && s[j] == ':';
  }
  buf_reset(&u->path);
  buf_reset(&u->query);
  buf_reset(&u->frag);
  u->has_query = u->has_frag = 0;
  int special;
  int relative = 0;
  if (has_scheme) {
    buf_reset(&u->scheme);
    for (size_t k = 0; k < j; k++) buf_addc(&u->scheme, (char)((s[k] >= 'A' && s[k] <= 'Z') ? s[k] + 32 : s[k]));
    i = j + 1;
    special = is_special(&u->scheme);
    int two_slashes = i + 1 < n && s[i] == '/' && s[i + 1] == '/';
    if (special && base && base->scheme.n == u->scheme.n && !memcmp(base->scheme.p, u->scheme.p, u->scheme.n) && !two_slashes) {
      relative = 1;
    } else if (special) {
      while (i < n && (s[i] == '/' || s[i] == '\\')) i++;
      goto authority;
    } else if (two_slashes) {
      i += 2;
      goto authority;
    } else {
      goto done; /* an opaque path: not for http.request */
    }
  } else {
    if (!base) goto done;
    copy_buf(&u->scheme, &base->scheme);
    relative = 1;
  }
  special = is_special(&u->scheme);
  if (relative) {
    unsigned char c = i < n ? (unsigned char)s[i] : 0;
    int slash = i < n && (c == '/' || (special && c == '\\'));
    if (slash && i + 1 < n && (s[i + 1] == '/' || (special && s[i + 1] == '\\'))) {
      i += 2;
      if (special)
        while (i < n && (s[i] == '/' || s[i] == '\\')) i++;
      goto authority;
    }
    copy_buf(&u->userinfo, &base->userinfo);
    copy_buf(&u->host, &base->host);
    u->port = base->port;
    if (slash) {
      i = parse_path(u, s, n, i + 1, special);
    } else if (c == '?') {
      copy_buf(&u->path, &base->path);
    } else if (i >= n || c == '#') {
      copy_buf(&u->path, &base->path);
      if (base->has_query) {
        u->has_query = 1;
        copy_buf(&u->query, &base->query);
      }
    } else {
      copy_buf(&u->path, &base->path);
      path_shorten(&u->path);
      i = parse_path(u, s, n, i, special);
    }
    parse_query_frag(u, s, n, i, special);
    ok = 1;
    goto done;
  }
authority:
  special = is_special(&u->scheme);
  i = parse_authority(u, s, n, i, special);
  if (i == (size_t)-1) goto done;
  if (i < n && (s[i] == '/' || (special && s[i] == '\\'))) i = parse_path(u, s, n, i + 1, special);
  else if (special) i = parse_path(u, s, n, i, special);
  parse_query_frag(u, s, n, i, special);
  ok = 1;
done:
  buf_free(&clean);
  return ok;
}

void url_hostport(const url_t *u, buf_t *out) {
  buf_add(out, u->host.p ? u->host.p : "", u->host.n);
  if (u->port >= 0) bf(out, ":%d", u->port);
}

void url_hostname(const url_t *u, buf_t *out) {
  const char *h = u->host.p ? u->host.p : "";
  size_t n = u->host.n;
  if (n >= 2 && h[0] == '[') buf_add(out, h + 1, n - 2);
  else buf_add(out, h, n);
}

void url_href(const url_t *u, buf_t *out) {
  bf(out, "%S://", &u->scheme);
  if (u->userinfo.n) bf(out, "%S@", &u->userinfo);
  url_hostport(u, out);
  if (u->path.n) buf_add(out, u->path.p, u->path.n);
  else if (is_special(&u->scheme)) buf_addc(out, '/');
  if (u->has_query) bf(out, "?%S", &u->query);
  if (u->has_frag) bf(out, "#%S", &u->frag);
}
