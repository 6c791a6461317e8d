/* Buffers, Go-style logging, and the string rules of common.ts / flags.ts (JavaScript's
 * decodeURIComponent, JSON.stringify and UTF-8 decoding, Go's path cleaning and durations). */
#include "agnhost.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---------------- memory and buffers ---------------- */

static _Noreturn void out_of_memory(void) {
  static const char msg[] = "agnhost-netexec: out of memory\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  _exit(2);
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) out_of_memory();
  return p;
}

void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) out_of_memory();
  return q;
}

char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xmalloc(n), s, n);
}

void buf_init(buf_t *b) {
  b->p = NULL;
  b->n = b->cap = 0;
}

void buf_free(buf_t *b) {
  free(b->p);
  buf_init(b);
}

void buf_reset(buf_t *b) {
  b->n = 0;
  if (b->p) b->p[0] = 0;
}

void buf_reserve(buf_t *b, size_t extra) {
  if (extra > SIZE_MAX / 2 - b->n) out_of_memory();
  size_t need = b->n + extra + 1;
  if (need <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  b->p = xrealloc(b->p, cap);
  b->cap = cap;
}

void buf_add(buf_t *b, const void *p, size_t n) {
  buf_reserve(b, n);
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = 0;
}

void buf_adds(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_addc(buf_t *b, char c) { buf_add(b, &c, 1); }

void buf_move(buf_t *dst, buf_t *src) {
  buf_free(dst);
  *dst = *src;
  buf_init(src);
}

void vbf(buf_t *b, const char *fmt, va_list ap) {
  for (const char *f = fmt; *f; f++) {
    if (*f != '%') {
      const char *e = strchr(f, '%');
      size_t n = e ? (size_t)(e - f) : strlen(f);
      buf_add(b, f, n);
      f += n - 1;
      continue;
    }
    f++;
    char tmp[32];
    switch (*f) {
      case 's': buf_adds(b, va_arg(ap, const char *)); break;
      case 'S': {
        const buf_t *s = va_arg(ap, const buf_t *);
        buf_add(b, s->p, s->n);
        break;
      }
      case 'V': {
        const char *p = va_arg(ap, const char *);
        size_t n = va_arg(ap, size_t);
        buf_add(b, p, n);
        break;
      }
      case 'd': snprintf(tmp, sizeof tmp, "%d", va_arg(ap, int)); buf_adds(b, tmp); break;
      case 'L': snprintf(tmp, sizeof tmp, "%lld", va_arg(ap, long long)); buf_adds(b, tmp); break;
      case '%': buf_addc(b, '%'); break;
      default: abort(); /* a bug in a format string of this program */
    }
  }
}

void bf(buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vbf(b, fmt, ap);
  va_end(ap);
}

/* ---------------- logging ---------------- */

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

/* One write per line, so lines of concurrent connections never interleave. */
void logbuf(const buf_t *msg) {
  buf_t line;
  buf_init(&line);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  char head[64];
  snprintf(head, sizeof head, "%04d/%02d/%02d %02d:%02d:%02d ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  buf_adds(&line, head);
  buf_add(&line, msg->p, msg->n);
  if (msg->n == 0 || msg->p[msg->n - 1] != '\n') buf_addc(&line, '\n');
  write_all(2, line.p, line.n);
  buf_free(&line);
}

static void vlogmsg(const char *fmt, va_list ap) {
  buf_t m;
  buf_init(&m);
  vbf(&m, fmt, ap);
  logbuf(&m);
  buf_free(&m);
}

void logmsg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlogmsg(fmt, ap);
  va_end(ap);
}

_Noreturn void fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlogmsg(fmt, ap);
  va_end(ap);
  _exit(1);
}

/* ---------------- small text helpers ---------------- */

int is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* \w of JavaScript regular expressions */
int is_word(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

int ci_prefix(const char *s, size_t n, const char *prefix) {
  size_t pn = strlen(prefix);
  if (n < pn) return 0;
  for (size_t i = 0; i < pn; i++)
    if (lower((unsigned char)s[i]) != lower((unsigned char)prefix[i])) return 0;
  return 1;
}

int ci_equal(const char *a, size_t an, const char *b) { return an == strlen(b) && ci_prefix(a, an, b); }

const char *ci_find(const char *hay, size_t hn, const char *needle) {
  size_t nn = strlen(needle);
  for (size_t i = 0; i + nn <= hn; i++)
    if (ci_prefix(hay + i, hn - i, needle)) return hay + i;
  return NULL;
}

int bytes_eq(const char *a, size_t an, const char *b, size_t bn) { return an == bn && (an == 0 || memcmp(a, b, an) == 0); }

/* ---------------- UTF-8 ---------------- */

/*
 * Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid; *bad is then the length of
 * the maximal subpart that one U+FFFD replaces (the WHATWG decoder, as Buffer#toString does).
 */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad, uint32_t *cp) {
  unsigned char c = s[0];
  *bad = 1;
  if (c < 0x80) {
    if (cp) *cp = c;
    return 1;
  }
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    v = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    v = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (size_t i = 1; i <= need; i++) {
    if (i >= n || s[i] < lo || s[i] > hi) {
      *bad = i;
      return 0;
    }
    v = (v << 6) | (s[i] & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  if (cp) *cp = v;
  return need + 1;
}

void utf8_sanitize(buf_t *out, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  buf_reserve(out, n);
  while (i < n) {
    size_t bad;
    size_t k = utf8_seq(u + i, n - i, &bad, NULL);
    if (k) {
      buf_add(out, s + i, k);
      i += k;
    } else {
      buf_add(out, "\xEF\xBF\xBD", 3);
      i += bad;
    }
  }
}

static void put_utf8(buf_t *out, uint32_t cp) {
  char t[4];
  if (cp < 0x80) {
    buf_addc(out, (char)cp);
  } else if (cp < 0x800) {
    t[0] = (char)(0xC0 | (cp >> 6));
    t[1] = (char)(0x80 | (cp & 0x3F));
    buf_add(out, t, 2);
  } else if (cp < 0x10000) {
    t[0] = (char)(0xE0 | (cp >> 12));
    t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    t[2] = (char)(0x80 | (cp & 0x3F));
    buf_add(out, t, 3);
  } else {
    t[0] = (char)(0xF0 | (cp >> 18));
    t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    t[3] = (char)(0x80 | (cp & 0x3F));
    buf_add(out, t, 4);
  }
}

static int js_space(uint32_t cp) {
  return (cp >= 9 && cp <= 13) || cp == 32 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

/* String#toLowerCase for the scripts a test message may plausibly use. */
static uint32_t to_lower_cp(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
    if (c == 0x178) return 0xFF;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
    return (c & 1) ? c : c + 1;
  }
  if ((c >= 0x391 && c <= 0x3A1) || (c >= 0x3A3 && c <= 0x3AB)) return c + 32;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF)) return (c & 1) ? c : c + 1;
  if (c >= 0x531 && c <= 0x556) return c + 48;
  if ((c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF)) return (c & 1) ? c : c + 1;
  if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
  return c;
}

/* buf.toString('utf8').trim().toLowerCase() */
void utf8_trim_lower(buf_t *out, const char *s, size_t n) {
  buf_t clean;
  buf_init(&clean);
  utf8_sanitize(&clean, s, n);
  const unsigned char *u = (const unsigned char *)clean.p;
  size_t len = clean.n, i = 0, start = 0, end = 0;
  int seen = 0;
  while (i < len) {
    size_t bad;
    uint32_t cp;
    size_t k = utf8_seq(u + i, len - i, &bad, &cp);
    if (!js_space(cp)) {
      if (!seen) start = i;
      seen = 1;
      end = i + k;
    }
    i += k;
  }
  i = start;
  while (seen && i < end) {
    size_t bad;
    uint32_t cp;
    size_t k = utf8_seq(u + i, end - i, &bad, &cp);
    if (cp == 0x130) {
      buf_add(out, "i\xCC\x87", 3);
    } else {
      put_utf8(out, to_lower_cp(cp));
    }
    i += k;
  }
  buf_free(&clean);
}

/* ---------------- decodeURIComponent ---------------- */

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The byte of the escape "%XY" at s[i] (the caller checked that three bytes are there), or -1. */
static int pct_byte(const char *s, size_t i) {
  if (s[i] != '%') return -1;
  int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
  if (h < 0 || l < 0) return -1;
  return h * 16 + l;
}

/* decodeURIComponent; 0 on a malformed escape or escaped bytes that are not UTF-8 (URIError). */
int uri_decode(buf_t *out, const char *s, size_t n) {
  size_t i = 0;
  buf_reserve(out, n);
  while (i < n) {
    if (s[i] != '%') {
      buf_addc(out, s[i]);
      i++;
      continue;
    }
    if (i + 2 >= n) return 0;
    int b = pct_byte(s, i);
    if (b < 0) return 0;
    i += 3;
    if (b < 0x80) {
      buf_addc(out, (char)b);
      continue;
    }
    unsigned char seq[4];
    seq[0] = (unsigned char)b;
    size_t need = (b >= 0xC0 && b <= 0xDF) ? 1 : (b >= 0xE0 && b <= 0xEF) ? 2 : (b >= 0xF0 && b <= 0xF7) ? 3 : 0;
    if (need == 0) return 0;
    for (size_t k = 1; k <= need; k++) {
      if (i + 2 >= n) return 0;
      int c = pct_byte(s, i);
      if (c < 0 || (c & 0xC0) != 0x80) return 0;
      seq[k] = (unsigned char)c;
      i += 3;
    }
    size_t bad;
    if (utf8_seq(seq, need + 1, &bad, NULL) != need + 1) return 0;
    buf_add(out, seq, need + 1);
  }
  return 1;
}

/* ---------------- query strings ---------------- */

int query_get(const char *q, size_t qn, const char *key, buf_t *val) {
  size_t kn = strlen(key);
  if (qn == 0) return 0;
  size_t i = 0;
  buf_t k, v;
  buf_init(&k);
  buf_init(&v);
  int found = 0;
  while (i <= qn && !found) {
    const char *amp = memchr(q + i, '&', qn - i);
    size_t end = amp ? (size_t)(amp - q) : qn;
    const char *part = q + i;
    size_t pn = end - i;
    i = end + 1;
    if (pn == 0 || memchr(part, ';', pn)) {
      if (!amp) break;
      continue;
    }
    const char *eq = memchr(part, '=', pn);
    size_t rk = eq ? (size_t)(eq - part) : pn;
    buf_t tmp;
    buf_init(&tmp);
    buf_add(&tmp, part, pn);
    for (size_t j = 0; j < tmp.n; j++)
      if (tmp.p[j] == '+') tmp.p[j] = ' ';
    buf_reset(&k);
    buf_reset(&v);
    int ok = uri_decode(&k, tmp.p, rk) && uri_decode(&v, eq ? tmp.p + rk + 1 : "", eq ? pn - rk - 1 : 0);
    buf_free(&tmp);
    if (ok && bytes_eq(k.p, k.n, key, kn)) {
      buf_reset(val);
      buf_add(val, v.p, v.n);
      found = 1;
    }
    if (!amp) break;
  }
  buf_free(&k);
  buf_free(&v);
  return found;
}

/* ---------------- JSON ---------------- */

static void json_str(buf_t *out, const char *s, size_t n, int html) {
  static const char hex[] = "0123456789abcdef";
  buf_reserve(out, n + 2);
  buf_addc(out, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char e[8];
    switch (c) {
      case '"': buf_add(out, "\\\"", 2); continue;
      case '\\': buf_add(out, "\\\\", 2); continue;
      case '\b': buf_add(out, "\\b", 2); continue;
      case '\f': buf_add(out, "\\f", 2); continue;
      case '\n': buf_add(out, "\\n", 2); continue;
      case '\r': buf_add(out, "\\r", 2); continue;
      case '\t': buf_add(out, "\\t", 2); continue;
      default: break;
    }
    if (c < 0x20 || (html && (c == '<' || c == '>' || c == '&'))) {
      e[0] = '\\';
      e[1] = 'u';
      e[2] = '0';
      e[3] = '0';
      e[4] = hex[c >> 4];
      e[5] = hex[c & 15];
      buf_add(out, e, 6);
      continue;
    }
    if (html && c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 && ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
      buf_adds(out, (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
      i += 2;
      continue;
    }
    buf_addc(out, (char)c);
  }
  buf_addc(out, '"');
}

/* JSON.stringify(string); s must be valid UTF-8 (sanitized). */
void js_json_str(buf_t *out, const char *s, size_t n) { json_str(out, s, n, 0); }

/* goJSON() of common.ts: JSON.stringify plus Go's HTML-safe escapes. */
void go_json_str(buf_t *out, const char *s, size_t n) { json_str(out, s, n, 1); }

/* An array index as a JavaScript object orders it: such keys come first, numerically. */
static int array_index(const char *k, unsigned long long *v) {
  size_t n = strlen(k);
  if (n == 0 || n > 10 || (n > 1 && k[0] == '0')) return 0;
  unsigned long long x = 0;
  for (size_t i = 0; i < n; i++) {
    if (k[i] < '0' || k[i] > '9') return 0;
    x = x * 10 + (unsigned long long)(k[i] - '0');
  }
  if (x > 4294967294ULL) return 0;
  *v = x;
  return 1;
}

static int key_cmp(const void *a, const void *b) {
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  unsigned long long xv, yv;
  int xi = array_index(x, &xv), yi = array_index(y, &yv);
  if (xi && yi) return xv < yv ? -1 : xv > yv;
  if (xi != yi) return xi ? -1 : 1;
  return strcmp(x, y);
}

/* The key order goJSONMap produces: sorted, then integer-like keys first (object key order). */
void json_map_key_sort(char **keys, size_t n) { qsort(keys, n, sizeof *keys, key_cmp); }

/* ---------------- numbers and durations ---------------- */

/* flags.ts atoi(): 1, or 0 for "invalid syntax" (not /^[+-]?\d+$/), -1 for "value out of range" (not a safe integer). */
int js_atoi(const char *s, size_t n, long long *out) {
  size_t i = 0;
  int neg = 0;
  if (n > 0 && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (i == n) return 0;
  for (size_t j = i; j < n; j++)
    if (s[j] < '0' || s[j] > '9') return 0;
  while (i < n - 1 && s[i] == '0') i++;
  if (n - i > 16) return -1;
  long long v = 0;
  for (; i < n; i++) v = v * 10 + (s[i] - '0');
  if (v > 9007199254740991LL) return -1;
  *out = neg ? -v : v;
  return 1;
}

/* flags.ts parseGoDuration(): Go's time.ParseDuration, in (fractional) milliseconds. */
int go_duration_ms(const char *s, size_t n, double *ms, buf_t *err) {
  const char *orig = s;
  size_t on = n;
  int neg = 0;
  if (n > 0 && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s++;
    n--;
  }
  if (n == 1 && s[0] == '0') {
    *ms = 0;
    return 1;
  }
  if (n == 0) goto invalid;
  double total = 0;
  while (n > 0) {
    size_t i = 0, ib, fb = 0, fl = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    ib = i;
    if (i < n && s[i] == '.') {
      i++;
      fb = i;
      while (i < n && s[i] >= '0' && s[i] <= '9') i++;
      fl = i - fb;
    }
    size_t ub = i;
    for (;;) {
      if (i < n && s[i] >= 'a' && s[i] <= 'z') i++;
      else if (i + 1 < n && (unsigned char)s[i] == 0xC2 && (unsigned char)s[i + 1] == 0xB5) i += 2;
      else if (i + 1 < n && (unsigned char)s[i] == 0xCE && (unsigned char)s[i + 1] == 0xBC) i += 2;
      else break;
    }
    if (i == 0) goto invalid;
    if (ib == 0 && fl == 0) goto invalid;
    const char *unit = s + ub;
    size_t un = i - ub;
    if (un == 0) {
      if (err) bf(err, "time: missing unit in duration \"%V\"", orig, on);
      return 0;
    }
    double mult;
    if (bytes_eq(unit, un, "ns", 2)) mult = 1e-6;
    else if (bytes_eq(unit, un, "us", 2) || bytes_eq(unit, un, "\xC2\xB5s", 3) || bytes_eq(unit, un, "\xCE\xBCs", 3)) mult = 1e-3;
    else if (bytes_eq(unit, un, "ms", 2)) mult = 1;
    else if (bytes_eq(unit, un, "s", 1)) mult = 1000;
    else if (bytes_eq(unit, un, "m", 1)) mult = 60000;
    else if (bytes_eq(unit, un, "h", 1)) mult = 3600000;
    else {
      if (err) bf(err, "time: unknown unit \"%V\" in duration \"%V\"", unit, un, orig, on);
      return 0;
    }
    /* Number(`${int || '0'}.${frac || '0'}`): strtod rounds as correctly as Number() does */
    buf_t num;
    buf_init(&num);
    if (ib) buf_add(&num, s, ib);
    else buf_addc(&num, '0');
    buf_addc(&num, '.');
    if (fl) buf_add(&num, s + fb, fl);
    else buf_addc(&num, '0');
    total += strtod(num.p, NULL) * mult;
    buf_free(&num);
    s += i;
    n -= i;
  }
  *ms = neg ? -total : total;
  return 1;
invalid:
  if (err) bf(err, "time: invalid duration \"%V\"", orig, on);
  return 0;
}

/* ---------------- paths ---------------- */

/* Go's ServeMux cleanPath (path.Clean, keeping a trailing slash), as common.ts's cleanPath. */
void clean_path(buf_t *out, const char *p, size_t n) {
  buf_reset(out);
  if (n == 0) {
    buf_addc(out, '/');
    return;
  }
  int trailing = p[n - 1] == '/';
  buf_addc(out, '/');
  size_t i = 0;
  while (i < n) {
    while (i < n && p[i] == '/') i++;
    size_t s = i;
    while (i < n && p[i] != '/') i++;
    size_t len = i - s;
    if (len == 0 || (len == 1 && p[s] == '.')) continue;
    if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
      if (out->n > 1) {
        size_t k = out->n - 1; /* drop the last segment and its slash */
        while (k > 0 && out->p[k] != '/') k--;
        out->n = k == 0 ? 1 : k;
        out->p[out->n] = 0;
      }
      continue;
    }
    if (out->n > 1) buf_addc(out, '/');
    buf_add(out, p + s, len);
  }
  if (trailing && out->n > 1) buf_addc(out, '/');
}

/* ---------------- HTTP bits ---------------- */

const char *status_text(int code, char *tmp, size_t tmpn) {
  switch (code) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a Teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 509: return "Bandwidth Limit Exceeded";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: snprintf(tmp, tmpn, "status code %d", code); return tmp;
  }
}

static int latin1_space(unsigned char c) { return (c >= 9 && c <= 13) || c == 32 || c == 0xA0; }

/* common.ts sniffContentType (a reduced http.DetectContentType). */
const char *sniff_content_type(const char *body, size_t n) {
  size_t lim = n < 512 ? n : 512;
  size_t i = 0;
  while (i < lim && latin1_space((unsigned char)body[i])) i++;
  const char *h = body + i;
  size_t hn = lim - i;
  static const char *tags[] = {"!doctype html", "html", "head", "script", "iframe", "h1", "div", "font", "table", "a", "style", "title", "b", "body", "br", "p", "!--"};
  if (hn > 0 && h[0] == '<') {
    for (size_t t = 0; t < sizeof tags / sizeof *tags; t++) {
      size_t tl = strlen(tags[t]);
      if (hn >= tl + 2 && ci_prefix(h + 1, hn - 1, tags[t]) && (h[1 + tl] == ' ' || h[1 + tl] == '>')) return "text/html; charset=utf-8";
    }
  }
  if (ci_prefix(h, hn, "<?xml")) return "text/xml; charset=utf-8";
  if (ci_prefix(h, hn, "%pdf-")) return "application/pdf";
  for (size_t j = 0; j < lim; j++) {
    unsigned char b = (unsigned char)body[j];
    if (b <= 0x08 || b == 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f)) return "application/octet-stream";
  }
  return "text/plain; charset=utf-8";
}

void http_date(char out[40]) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec mono_start;

void process_start_init(void) { clock_gettime(CLOCK_MONOTONIC, &mono_start); }

/* common.ts goNow(): fmt.Sprint(time.Now()) with millisecond precision */
void go_now(buf_t *out) {
  struct timespec ts, mono;
  clock_gettime(CLOCK_REALTIME, &ts);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  long off = tm.tm_gmtoff / 60;
  char sign = off >= 0 ? '+' : '-';
  long aoff = off < 0 ? -off : off;
  char offs[48], zone[8], frac[8] = "";
  snprintf(offs, sizeof offs, "%c%02ld%02ld", sign, aoff / 60, aoff % 60);
  if (off == 0) snprintf(zone, sizeof zone, "UTC");
  else snprintf(zone, sizeof zone, "%.3s", offs);
  int msec = (int)(ts.tv_nsec / 1000000);
  if (msec) { /* milliseconds without trailing zeros: .5, .05, .123 */
    int digits = 3;
    while (msec % 10 == 0) {
      msec /= 10;
      digits--;
    }
    snprintf(frac, sizeof frac, ".%0*d", digits, msec);
  }
  long long ns = (long long)(mono.tv_sec - mono_start.tv_sec) * 1000000000LL + (mono.tv_nsec - mono_start.tv_nsec);
  char line[160];
  snprintf(line, sizeof line, "%04d-%02d-%02d %02d:%02d:%02d%s %s %s m=+%lld.%09lld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, frac, offs, zone, ns / 1000000000LL, ns % 1000000000LL);
  buf_adds(out, line);
}

/* common.ts hostPort(): IPv4-mapped addresses as IPv4, IPv6 in brackets */
void host_port(char *out, size_t outn, const struct sockaddr *sa) {
  char ip[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    port = ntohs(s4->sin_port);
    snprintf(out, outn, "%s:%d", ip, port);
    return;
  }
  const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
  port = ntohs(s6->sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
    inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, sizeof ip);
    snprintf(out, outn, "%s:%d", ip, port);
    return;
  }
  inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
  snprintf(out, outn, "[%s]:%d", ip, port);
}

/* net.isIP(): 4, 6 or 0 */
int is_ip_literal(const char *s, int *family) {
  unsigned char tmp[16];
  if (inet_pton(AF_INET, s, tmp) == 1) {
    *family = 4;
    return 1;
  }
  if (inet_pton(AF_INET6, s, tmp) == 1) {
    *family = 6;
    return 1;
  }
  *family = 0;
  return 0;
}

/* common.ts errnoText(): Go's texts for the usual errors, else NULL */
const char *errno_text(int e) {
  switch (e) {
    case ECONNREFUSED: return "connection refused";
    case ECONNRESET: return "connection reset by peer";
    case EHOSTUNREACH: return "no route to host";
    case ENETUNREACH: return "network is unreachable";
    case ETIMEDOUT: return "connection timed out";
    case EPIPE: return "broken pipe";
    case EACCES: return "permission denied";
    case EPERM: return "operation not permitted";
    case EADDRNOTAVAIL: return "cannot assign requested address";
    default: return NULL;
  }
}

/* Go's text for the bind errors a listener commonly meets; NULL for the rest */
const char *bind_error_text(int e) {
  return e == EADDRINUSE ? "bind: address already in use" : e == EACCES ? "bind: permission denied"
       : e == EADDRNOTAVAIL ? "bind: cannot assign requested address" : NULL;
}

const char *errno_name(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EROFS: return "EROFS";
    case ENOSPC: return "ENOSPC";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EEXIST: return "EEXIST";
    case EIO: return "EIO";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case EFBIG: return "EFBIG";
    case EINVAL: return "EINVAL";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EPIPE: return "EPIPE";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOBUFS: return "ENOBUFS";
    default: return "UNKNOWN";
  }
}

/* libuv's uv_strerror texts, which Node's error messages carry */
const char *uv_errno_text(int e) {
  switch (e) {
    case ENOENT: return "no such file or directory";
    case EACCES: return "permission denied";
    case EPERM: return "operation not permitted";
    case EROFS: return "read-only file system";
    case ENOSPC: return "no space left on device";
    case ENOTDIR: return "not a directory";
    case EISDIR: return "illegal operation on a directory";
    case EEXIST: return "file already exists";
    case EIO: return "i/o error";
    case EMFILE: return "too many open files";
    case ENFILE: return "file table overflow";
    case ENAMETOOLONG: return "name too long";
    case ELOOP: return "too many symbolic links encountered";
    case EFBIG: return "file too large";
    case EINVAL: return "invalid argument";
    case EADDRINUSE: return "address already in use";
    case EADDRNOTAVAIL: return "address not available";
    case ECONNREFUSED: return "connection refused";
    case EMSGSIZE: return "message too long";
    default: {
      const char *d = strerrordesc_np(e);
      return d ? d : "unknown error";
    }
  }
}

uint32_t random_u32(void) {
  uint32_t v;
  if (getrandom(&v, sizeof v, 0) == (ssize_t)sizeof v) return v;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)ts.tv_nsec ^ (uint32_t)getpid();
}
