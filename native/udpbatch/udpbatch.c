// podnet's udpbatch addon: a UDP socket that moves datagrams in batches, for the DNS server.
// Node's dgram costs one recvmsg and one sendmsg (and one JS event) per datagram; here one
// recvmmsg reads up to `slots` datagrams into a buffer shared with JavaScript, ONE JS callback
// answers them all in place, and one sendmmsg sends the answers back to where each came from.
//
//   open(host, port, recvBufferSize, slots, onBatch(count)) -> { handle, shared, address, port, family }
//   send(handle, data, peer)            peer: the 32 peer bytes of a slot (copied by the caller)
//   sendTo(handle, data, host, port)    an IP literal (an IPv4 one on an IPv6 socket is mapped)
//   close(handle)
//   layout: { slotSize, peerSize, metaInts }
//
// `shared` is one ArrayBuffer, made once per socket:
//   meta  Int32 x 4 per slot: received length (the datagram's real length: more than slotSize
//         means it was cut, MSG_TRUNC), peer family (4 or 6), peer address length, answer
//         length (JS writes it; 0 = no answer; C zeroes it before each batch)
//   peer  peerSize bytes per slot: the sender's sockaddr, as the kernel gave it
//   rx    slotSize bytes per slot: the datagrams
//   tx    slotSize bytes per slot: the answers
// Everything JS writes is bounds-checked before C uses it; nothing a peer sends is trusted.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#define SLOT_SIZE 4096
#define PEER_SIZE 32
#define META_INTS 4
#define MAX_SLOTS 1024
/** Batches read per wakeup at most, so TCP connections and timers get their turn under a flood. */
#define MAX_BATCHES_PER_WAKEUP 16

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "udpbatch: N-API call failed: " #call); return NULL; } } while (0)

typedef struct {
  napi_env env;
  int fd;
  int family; // AF_INET or AF_INET6 (of the socket)
  uint32_t slots;
  uv_poll_t poll;
  bool polling;
  bool closed;       // close() was called (or the environment is going away)
  bool uvClosed;     // libuv is done with `poll`
  bool finalized;    // the JS handle is gone
  bool inBatch;      // the JS callback is running: its async context and function must outlive it
  bool releaseLater; // close() was called from the callback: let go of JS values after it returns
  bool envGone;      // the environment's cleanup hook ran: no more calls into it (a Worker ending)
  napi_ref onBatch;  // strong while open
  napi_ref shared;   // strong while open
  napi_async_context async;
  uint8_t *base;     // the shared ArrayBuffer's bytes
  int32_t *meta;
  uint8_t *peer;
  uint8_t *rx;
  uint8_t *tx;
  struct mmsghdr *rmsg;
  struct iovec *riov;
  struct mmsghdr *smsg;
  struct iovec *siov;
} Sock;

static const char *errnoName(int err) {
  switch (err) {
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case EAGAIN: return "EAGAIN";
    case EMSGSIZE: return "EMSGSIZE";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENODEV: return "ENODEV";
    default: return "EUDPBATCH";
  }
}

/** Throws an Error with `code` (errno name, as Node's own errors) and `errno`. */
static napi_value throwErrno(napi_env env, const char *what, int err) {
  char msg[512];
  snprintf(msg, sizeof msg, "udpbatch: %s: %s", what, strerror(err));
  napi_value message, code, error, num;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_string_utf8(env, errnoName(err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_throw(env, error);
  return NULL;
}

static void freeSock(Sock *s) {
  free(s->rmsg); free(s->riov); free(s->smsg); free(s->siov);
  free(s);
}

static void onUvClosed(uv_handle_t *h) {
  Sock *s = (Sock *)h->data;
  s->uvClosed = true;
  if (s->finalized) freeSock(s);
}

static void releaseJsValues(Sock *s) {
  if (s->onBatch) { napi_delete_reference(s->env, s->onBatch); s->onBatch = NULL; }
  if (s->shared) { napi_delete_reference(s->env, s->shared); s->shared = NULL; }
  if (s->async) { napi_async_destroy(s->env, s->async); s->async = NULL; }
}

/** Stops reading, closes the fd, lets go of JS values. Safe to call twice and from the batch callback. */
static void closeSock(Sock *s, bool releaseRefs) {
  if (s->closed) return;
  s->closed = true;
  if (s->polling) {
    uv_poll_stop(&s->poll);
    // When the environment goes (a Worker ending), Node unloads this library before libuv runs
    // close callbacks: no callback then, and the few hundred bytes of `s` are left behind.
    uv_close((uv_handle_t *)&s->poll, s->envGone ? NULL : onUvClosed);
  } else {
    s->uvClosed = true;
  }
  if (s->fd >= 0) { close(s->fd); s->fd = -1; }
  if (releaseRefs) {
    if (s->inBatch) s->releaseLater = true;
    else releaseJsValues(s);
  }
}

static void onEnvCleanup(void *arg) {
  // The environment is going away: close the socket; the references go with the environment.
  Sock *s = (Sock *)arg;
  s->envGone = true;
  closeSock(s, false);
}

static void finalizeHandle(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  Sock *s = (Sock *)data;
  // After the hook ran, the environment may be half gone: removing the hook would touch it.
  if (!s->envGone) napi_remove_env_cleanup_hook(env, onEnvCleanup, s);
  closeSock(s, false);
  s->finalized = true;
  if (s->uvClosed) freeSock(s); // else onUvClosed frees it, or (environment gone) nobody
}

/** Sends the answers JS wrote for the first `count` slots with as few sendmmsg calls as it takes. */
static void sendAnswers(Sock *s, uint32_t count) {
  uint32_t m = 0;
  for (uint32_t i = 0; i < count; i++) {
    int32_t len = s->meta[i * META_INTS + 3];
    int32_t peerLen = s->meta[i * META_INTS + 2];
    if (len <= 0 || len > SLOT_SIZE || peerLen <= 0 || peerLen > PEER_SIZE) continue;
    s->siov[m].iov_base = s->tx + (size_t)i * SLOT_SIZE;
    s->siov[m].iov_len = (size_t)len;
    struct msghdr *h = &s->smsg[m].msg_hdr;
    memset(h, 0, sizeof *h);
    h->msg_name = s->peer + (size_t)i * PEER_SIZE;
    h->msg_namelen = (socklen_t)peerLen;
    h->msg_iov = &s->siov[m];
    h->msg_iovlen = 1;
    m++;
  }
  uint32_t done = 0;
  // Each turn sends at least one datagram or drops one, so this ends within m turns (+ EINTR).
  for (int guard = 0; done < m && guard < (int)m + 8; guard++) {
    int n = sendmmsg(s->fd, s->smsg + done, m - done, MSG_DONTWAIT);
    if (n > 0) { done += (uint32_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    // The send buffer is full (EAGAIN) or this one address was refused: that answer is lost, as
    // any UDP answer lost on the way, and the client retries. The rest still go.
    done++;
  }
}

static void onReadable(uv_poll_t *handle, int status, int events) {
  (void)events;
  Sock *s = (Sock *)handle->data;
  if (s->closed || status < 0) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  for (int batch = 0; batch < MAX_BATCHES_PER_WAKEUP && !s->closed; batch++) {
    for (uint32_t i = 0; i < s->slots; i++) {
      s->riov[i].iov_base = s->rx + (size_t)i * SLOT_SIZE;
      s->riov[i].iov_len = SLOT_SIZE;
      struct msghdr *h = &s->rmsg[i].msg_hdr;
      memset(h, 0, sizeof *h);
      h->msg_name = s->peer + (size_t)i * PEER_SIZE;
      h->msg_namelen = PEER_SIZE;
      h->msg_iov = &s->riov[i];
      h->msg_iovlen = 1;
    }
    // MSG_TRUNC: msg_len is the datagram's real length even when the slot held only its start.
    int n = recvmmsg(s->fd, s->rmsg, s->slots, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      break; // EAGAIN: drained. Other errors (an ICMP report) are not this socket's problem.
    }
    if (n == 0) break;
    for (int i = 0; i < n; i++) {
      int32_t *m = s->meta + (size_t)i * META_INTS;
      unsigned int len = s->rmsg[i].msg_len;
      // A cut datagram reported with the slot's length (not expected, given MSG_TRUNC): still cut.
      if ((s->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) && len <= SLOT_SIZE) len = SLOT_SIZE + 1;
      m[0] = len > INT32_MAX ? INT32_MAX : (int32_t)len;
      socklen_t nl = s->rmsg[i].msg_hdr.msg_namelen;
      sa_family_t fam = nl >= sizeof(sa_family_t) ? ((struct sockaddr *)s->rmsg[i].msg_hdr.msg_name)->sa_family : AF_UNSPEC;
      m[1] = fam == AF_INET6 ? 6 : fam == AF_INET ? 4 : 0;
      m[2] = nl <= PEER_SIZE ? (int32_t)nl : 0;
      m[3] = 0;
    }
    napi_value fn, argv[1], global, result;
    if (napi_get_reference_value(env, s->onBatch, &fn) != napi_ok || fn == NULL) break;
    napi_get_global(env, &global);
    napi_create_uint32(env, (uint32_t)n, &argv[0]);
    s->inBatch = true;
    napi_status st = napi_make_callback(env, s->async, global, fn, 1, argv, &result);
    s->inBatch = false;
    if (s->releaseLater) { s->releaseLater = false; releaseJsValues(s); }
    if (st == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
      break;
    }
    if (s->closed) break; // closed from the callback: the answers have nowhere to go
    sendAnswers(s, (uint32_t)n);
    if ((uint32_t)n < s->slots) break; // a short batch: the queue is empty, skip the EAGAIN call
  }
  napi_close_handle_scope(env, scope);
}

/** Fills `ss` from an IP literal (optionally "%scope" for IPv6) and port; false if not a literal. */
static bool parseAddress(const char *host, int port, int family, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  if (strlen(host) >= sizeof buf) return false;
  strcpy(buf, host);
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (buf[0] == '\0') { a->sin_addr.s_addr = htonl(INADDR_ANY); }
    else if (inet_pton(AF_INET, buf, &a->sin_addr) != 1) return false;
    *len = sizeof *a;
    return true;
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
  a->sin6_family = AF_INET6;
  a->sin6_port = htons((uint16_t)port);
  char *pct = strchr(buf, '%');
  if (pct) {
    *pct = '\0';
    unsigned idx = if_nametoindex(pct + 1);
    if (idx == 0) { char *end; unsigned long v = strtoul(pct + 1, &end, 10); if (*end || pct[1] == '\0') return false; idx = (unsigned)v; }
    a->sin6_scope_id = idx;
  }
  if (buf[0] == '\0') { a->sin6_addr = in6addr_any; }
  else if (inet_pton(AF_INET6, buf, &a->sin6_addr) != 1) {
    // An IPv4 literal sent from an IPv6 socket: its v4-mapped form.
    struct in_addr v4;
    if (pct || inet_pton(AF_INET, buf, &v4) != 1) return false;
    a->sin6_addr.s6_addr[10] = 0xff; a->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
  }
  *len = sizeof *a;
  return true;
}

static bool getString(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok) return false;
  return len < cap - 1;
}

static bool getInt(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) return false;
  *out = (int64_t)d;
  return true;
}

static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[128];
  int64_t port, rcvbuf, slots;
  napi_valuetype fnType = napi_undefined;
  if (argc >= 5) CHECK(napi_typeof(env, argv[4], &fnType));
  if (argc < 5 || !getString(env, argv[0], host, sizeof host) || !getInt(env, argv[1], 0, 65535, &port) ||
      !getInt(env, argv[2], 0, INT32_MAX, &rcvbuf) || !getInt(env, argv[3], 1, MAX_SLOTS, &slots) || fnType != napi_function) {
    napi_throw_type_error(env, NULL, "udpbatch: open(host: string, port: 0..65535, recvBufferSize: int, slots: 1..1024, onBatch: function)");
    return NULL;
  }
  int family = strchr(host, ':') ? AF_INET6 : AF_INET;
  struct sockaddr_storage addr;
  socklen_t addrLen;
  if (!parseAddress(host, (int)port, family, &addr, &addrLen)) {
    char what[200];
    snprintf(what, sizeof what, "bind %s: not an IP address", host);
    return throwErrno(env, what, EINVAL);
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throwErrno(env, "socket", errno);
  if (family == AF_INET6) {
    int off = 0; // dual-stack, as dgram's ipv6Only: false
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (bind(fd, (struct sockaddr *)&addr, addrLen) < 0) {
    int e = errno;
    close(fd);
    char what[200];
    snprintf(what, sizeof what, "bind %s%s%s:%d", family == AF_INET6 ? "[" : "", host, family == AF_INET6 ? "]" : "", (int)port);
    return throwErrno(env, what, e);
  }
  if (rcvbuf > 0) {
    int size = (int)rcvbuf; // the kernel caps it at net.core.rmem_max; the default stays if refused
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  struct sockaddr_storage bound;
  socklen_t boundLen = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &boundLen) < 0) { int e = errno; close(fd); return throwErrno(env, "getsockname", e); }
  char boundHost[INET6_ADDRSTRLEN] = "";
  int boundPort;
  if (bound.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&bound;
    inet_ntop(AF_INET6, &a->sin6_addr, boundHost, sizeof boundHost);
    boundPort = ntohs(a->sin6_port);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&bound;
    inet_ntop(AF_INET, &a->sin_addr, boundHost, sizeof boundHost);
    boundPort = ntohs(a->sin_port);
  }

  Sock *s = calloc(1, sizeof *s);
  if (!s) { close(fd); return throwErrno(env, "open", ENOMEM); }
  s->env = env; s->fd = fd; s->family = family; s->slots = (uint32_t)slots;
  s->rmsg = calloc(s->slots, sizeof *s->rmsg); s->riov = calloc(s->slots, sizeof *s->riov);
  s->smsg = calloc(s->slots, sizeof *s->smsg); s->siov = calloc(s->slots, sizeof *s->siov);
  if (!s->rmsg || !s->riov || !s->smsg || !s->siov) { close(fd); freeSock(s); return throwErrno(env, "open", ENOMEM); }

  size_t metaBytes = (size_t)s->slots * META_INTS * sizeof(int32_t);
  size_t total = metaBytes + (size_t)s->slots * (PEER_SIZE + 2 * SLOT_SIZE);
  napi_value shared, handle, result, v, resource, name;
  void *data = NULL;
  if (napi_create_arraybuffer(env, total, &data, &shared) != napi_ok || !data) { close(fd); freeSock(s); napi_throw_error(env, NULL, "udpbatch: no memory for the shared buffer"); return NULL; }
  s->base = data;
  s->meta = (int32_t *)s->base;
  s->peer = s->base + metaBytes;
  s->rx = s->peer + (size_t)s->slots * PEER_SIZE;
  s->tx = s->rx + (size_t)s->slots * SLOT_SIZE;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "podnet:udpbatch", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[4], 1, &s->onBatch) != napi_ok || napi_create_reference(env, shared, 1, &s->shared) != napi_ok ||
      napi_async_init(env, resource, name, &s->async) != napi_ok) {
    closeSock(s, true); freeSock(s);
    napi_throw_error(env, NULL, "udpbatch: N-API setup failed");
    return NULL;
  }
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop || uv_poll_init(loop, &s->poll, fd) != 0) {
    closeSock(s, true); freeSock(s);
    napi_throw_error(env, NULL, "udpbatch: cannot watch the socket on the event loop");
    return NULL;
  }
  s->poll.data = s;
  s->polling = true;
  if (uv_poll_start(&s->poll, UV_READABLE, onReadable) != 0) {
    closeSock(s, true); // uv_close frees once libuv is done (finalized set below first)
    s->finalized = true;
    napi_throw_error(env, NULL, "udpbatch: uv_poll_start failed");
    return NULL;
  }
  if (napi_create_external(env, s, finalizeHandle, NULL, &handle) != napi_ok) {
    closeSock(s, true);
    s->finalized = true;
    napi_throw_error(env, NULL, "udpbatch: cannot create the handle");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, onEnvCleanup, s);
  CHECK(napi_create_object(env, &result));
  CHECK(napi_set_named_property(env, result, "handle", handle));
  CHECK(napi_set_named_property(env, result, "shared", shared));
  CHECK(napi_create_string_utf8(env, boundHost, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, result, "address", v));
  CHECK(napi_create_int32(env, boundPort, &v));
  CHECK(napi_set_named_property(env, result, "port", v));
  CHECK(napi_create_string_utf8(env, bound.ss_family == AF_INET6 ? "IPv6" : "IPv4", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, result, "family", v));
  return result;
}

static Sock *getSock(napi_env env, napi_value v) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return (Sock *)p;
}

/** The bytes of a Buffer or typed array; false if `v` is neither. */
static bool getBytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type; size_t length, offset; napi_value ab; void *p;
    if (napi_get_typedarray_info(env, v, &type, &length, &p, &ab, &offset) != napi_ok) return false;
    size_t unit = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: unit = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: unit = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: unit = 8; break;
      default: unit = 1;
    }
    *data = p; *len = length * unit;
    return true;
  }
  return false;
}

/** Sends one datagram now; returns 0 or the errno (a lost datagram is the caller's to ignore). */
static napi_value sendOne(napi_env env, Sock *s, uint8_t *data, size_t len, const struct sockaddr *to, socklen_t toLen) {
  napi_value r;
  int err = 0;
  if (s->closed) err = EBADF;
  else if (len > 65507) err = EMSGSIZE;
  else {
    for (int tries = 0; tries < 4; tries++) {
      ssize_t n = sendto(s->fd, data, len, MSG_DONTWAIT, to, toLen);
      if (n >= 0) { err = 0; break; }
      err = errno;
      if (err != EINTR) break;
    }
  }
  napi_create_int32(env, err, &r);
  return r;
}

// send(handle, data, peer): peer is a slot's peer bytes as copied by JS; its family must be the
// socket's and its length that family's sockaddr.
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock *s = argc >= 3 ? getSock(env, argv[0]) : NULL;
  uint8_t *data, *peer; size_t len, peerLen;
  if (!s || !getBytes(env, argv[1], &data, &len) || !getBytes(env, argv[2], &peer, &peerLen)) {
    napi_throw_type_error(env, NULL, "udpbatch: send(handle, data: Uint8Array, peer: Uint8Array)");
    return NULL;
  }
  struct sockaddr_storage to;
  memset(&to, 0, sizeof to);
  socklen_t want = s->family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (peerLen < want) { napi_throw_range_error(env, NULL, "udpbatch: send: peer address too short"); return NULL; }
  memcpy(&to, peer, want);
  if (to.ss_family != s->family) { napi_throw_range_error(env, NULL, "udpbatch: send: peer address of another family"); return NULL; }
  return sendOne(env, s, data, len, (struct sockaddr *)&to, want);
}

static napi_value SendTo(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock *s = argc >= 4 ? getSock(env, argv[0]) : NULL;
  uint8_t *data; size_t len; char host[128]; int64_t port;
  if (!s || !getBytes(env, argv[1], &data, &len) || !getString(env, argv[2], host, sizeof host) || !getInt(env, argv[3], 1, 65535, &port) || host[0] == '\0') {
    napi_throw_type_error(env, NULL, "udpbatch: sendTo(handle, data: Uint8Array, host: IP literal, port: 1..65535)");
    return NULL;
  }
  struct sockaddr_storage to;
  socklen_t toLen;
  if (!parseAddress(host, (int)port, s->family, &to, &toLen)) return throwErrno(env, "sendTo: not an IP address of the socket's family", EINVAL);
  return sendOne(env, s, data, len, (struct sockaddr *)&to, toLen);
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock *s = argc >= 1 ? getSock(env, argv[0]) : NULL;
  if (!s) { napi_throw_type_error(env, NULL, "udpbatch: close(handle)"); return NULL; }
  closeSock(s, true);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn, layout, v;
  CHECK(napi_create_function(env, "open", NAPI_AUTO_LENGTH, Open, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "open", fn));
  CHECK(napi_create_function(env, "send", NAPI_AUTO_LENGTH, Send, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "send", fn));
  CHECK(napi_create_function(env, "sendTo", NAPI_AUTO_LENGTH, SendTo, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "sendTo", fn));
  CHECK(napi_create_function(env, "close", NAPI_AUTO_LENGTH, Close, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "close", fn));
  CHECK(napi_create_object(env, &layout));
  CHECK(napi_create_int32(env, SLOT_SIZE, &v)); CHECK(napi_set_named_property(env, layout, "slotSize", v));
  CHECK(napi_create_int32(env, PEER_SIZE, &v)); CHECK(napi_set_named_property(env, layout, "peerSize", v));
  CHECK(napi_create_int32(env, META_INTS, &v)); CHECK(napi_set_named_property(env, layout, "metaInts", v));
  CHECK(napi_create_int32(env, MAX_SLOTS, &v)); CHECK(napi_set_named_property(env, layout, "maxSlots", v));
  CHECK(napi_set_named_property(env, exports, "layout", layout));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
