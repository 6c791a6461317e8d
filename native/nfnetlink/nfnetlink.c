// podnet's nfnetlink addon: a NETLINK_NETFILTER socket that sends one prepared nf_tables batch
// and reports what the kernel answered. Deliberately small: the messages are encoded in
// TypeScript (src/net/nftnl.ts); this file only does what JavaScript cannot — open the socket
// (optionally inside a named network namespace), size its buffers, sendmsg the batch, read the
// acknowledgements back.
//
//   open(netnsPath | null) -> fd
//   send(fd, buffer, expectedReplies, timeoutMs) -> Promise<{ replies, errno, seq }>
//     errno/seq: the first error the kernel reported and the sequence number of the message it
//     refused (errno 0 when every message was accepted and the batch committed).
//   dump(fd, request) -> Promise<Buffer>: sends one NLM_F_DUMP request and returns every reply
//     message up to NLMSG_DONE, concatenated (rejects with the errno of an NLMSG_ERROR).
//   close(fd)
//
// nfnetlink processes a batch synchronously inside sendmsg(), so every reply is queued on the
// socket when it returns; send still runs on a worker thread, because for 100,000 elements that
// sendmsg takes a noticeable fraction of a second and the event loop must not stop for it.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <node_api.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "nfnetlink: N-API call failed: " #call); return NULL; } } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "nfnetlink: %s: %s", what, strerror(err));
  napi_value message, code, error;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_string_utf8(env, "ENFNETLINK", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, message, &error);
  napi_value errnoValue;
  napi_create_int32(env, err, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  napi_throw(env, error);
  return NULL;
}

// open(netnsPath | null): the socket is created inside the namespace (setns on this thread,
// socket(), setns back); a socket keeps the namespace it was created in.
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096] = "";
  napi_valuetype t = napi_undefined;
  if (argc >= 1) CHECK(napi_typeof(env, argv[0], &t));
  if (t == napi_string) {
    size_t len = 0;
    CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
    if (len >= sizeof path - 1) { napi_throw_error(env, NULL, "nfnetlink: namespace path too long"); return NULL; }
  }
  int home = -1, target = -1;
  if (path[0]) {
    home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) return throw_errno(env, "open /proc/thread-self/ns/net", errno);
    target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) { int e = errno; close(home); return throw_errno(env, path, e); }
    if (setns(target, CLONE_NEWNET) < 0) { int e = errno; close(home); close(target); return throw_errno(env, "setns", e); }
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  int socketErr = errno;
  if (home >= 0) {
    // Back to this thread's own namespace whatever happened; failing that, nothing is safe.
    if (setns(home, CLONE_NEWNET) < 0) abort();
    close(home);
    close(target);
  }
  if (fd < 0) return throw_errno(env, "socket(NETLINK_NETFILTER)", socketErr);
  struct sockaddr_nl local = { .nl_family = AF_NETLINK };
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) { int e = errno; close(fd); return throw_errno(env, "bind", e); }
  // Errors echo only the header of the refused message, not its (up to 64 KiB of) elements.
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  napi_value result;
  CHECK(napi_create_int32(env, fd, &result));
  return result;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) { napi_throw_type_error(env, NULL, "nfnetlink.close(fd)"); return NULL; }
  close(fd);
  return NULL;
}

/* What a send and a dump have in common: work on libuv's pool that reads a JS buffer, held by a
   reference until the work completes, and a promise settled in the completion callback. */
typedef struct {
  napi_ref bufferRef;
  napi_deferred deferred;
  napi_async_work work;
} AsyncCall;

static napi_value queueCall(napi_env env, AsyncCall *call, napi_value buffer, const char *name,
                            napi_async_execute_callback execute, napi_async_complete_callback complete, void *job) {
  CHECK(napi_create_reference(env, buffer, 1, &call->bufferRef));
  napi_value promise, resource;
  CHECK(napi_create_promise(env, &call->deferred, &promise));
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource));
  CHECK(napi_create_async_work(env, NULL, resource, execute, complete, job, &call->work));
  CHECK(napi_queue_async_work(env, call->work));
  return promise;
}

static void finishCall(napi_env env, AsyncCall *call) {
  napi_delete_reference(env, call->bufferRef);
  napi_delete_async_work(env, call->work);
}

typedef struct {
  int fd;
  const uint8_t *data;
  size_t length;
  uint32_t expected;
  int32_t timeoutMs;
  AsyncCall call;
  // results
  uint32_t replies;
  int firstErrno;
  uint32_t firstSeq;
  int failure; // errno of the socket itself (sendmsg/recv), 0 if none
  const char *failedCall;
} SendJob;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Room for the whole batch in one sendmsg (netlink refuses a message larger than the send
// buffer), as nft does: SO_SNDBUFFORCE needs CAP_NET_ADMIN, SO_SNDBUF is capped by wmem_max.
static void size_buffers(int fd, size_t length) {
  int want = length > (size_t)(INT32_MAX / 2) ? INT32_MAX / 2 : (int)length + 65536;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
  int rcv = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
}

static void read_replies(SendJob *job, int flags) {
  static __thread uint8_t buf[1 << 16];
  for (;;) {
    ssize_t n = recv(job->fd, buf, sizeof buf, flags);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) { job->failure = errno; job->failedCall = "recv"; }
      return;
    }
    if (n == 0) return;
    size_t left = (size_t)n;
    for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      job->replies++;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(int))) continue;
      const struct nlmsgerr *e = (const struct nlmsgerr *)NLMSG_DATA(h);
      if (e->error != 0 && job->firstErrno == 0) { job->firstErrno = -e->error; job->firstSeq = h->nlmsg_seq; }
    }
    flags = MSG_DONTWAIT; // after the first blocking read, take only what is already queued
  }
}

static void SendExecute(napi_env env, void *data) {
  (void)env;
  SendJob *job = data;
  size_buffers(job->fd, job->length);
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  struct iovec iov = { .iov_base = (void *)job->data, .iov_len = job->length };
  struct msghdr msg = { .msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = &iov, .msg_iovlen = 1 };
  ssize_t sent;
  do sent = sendmsg(job->fd, &msg, 0); while (sent < 0 && errno == EINTR);
  if (sent < 0) { job->failure = errno; job->failedCall = "sendmsg"; return; }
  if ((size_t)sent != job->length) { job->failure = EMSGSIZE; job->failedCall = "sendmsg (short)"; return; }
  // Everything is queued already; wait (bounded) only if acknowledgements are still missing.
  read_replies(job, MSG_DONTWAIT);
  int64_t deadline = now_ms() + job->timeoutMs;
  while (!job->failure && job->firstErrno == 0 && job->replies < job->expected) {
    int64_t left = deadline - now_ms();
    if (left <= 0) { job->failure = ETIMEDOUT; job->failedCall = "waiting for acknowledgements"; return; }
    struct pollfd p = { .fd = job->fd, .events = POLLIN };
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno != EINTR) { job->failure = errno; job->failedCall = "poll"; return; }
    if (r > 0) read_replies(job, MSG_DONTWAIT);
  }
}

static void SendComplete(napi_env env, napi_status status, void *data) {
  SendJob *job = data;
  napi_value result, v;
  napi_create_object(env, &result);
  napi_create_uint32(env, job->replies, &v);
  napi_set_named_property(env, result, "replies", v);
  napi_create_int32(env, job->firstErrno, &v);
  napi_set_named_property(env, result, "errno", v);
  napi_create_uint32(env, job->firstSeq, &v);
  napi_set_named_property(env, result, "seq", v);
  napi_create_int32(env, job->failure, &v);
  napi_set_named_property(env, result, "socketErrno", v);
  if (job->failedCall) { napi_create_string_utf8(env, job->failedCall, NAPI_AUTO_LENGTH, &v); napi_set_named_property(env, result, "failedCall", v); }
  if (status == napi_ok) napi_resolve_deferred(env, job->call.deferred, result);
  else {
    napi_value message, error;
    napi_create_string_utf8(env, "nfnetlink: send was cancelled", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, job->call.deferred, error);
  }
  finishCall(env, &job->call);
  free(job);
}

static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1, timeoutMs = 30000;
  uint32_t expected = 0;
  bool isBuffer = false;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_is_buffer(env, argv[1], &isBuffer) != napi_ok || !isBuffer ||
      napi_get_value_uint32(env, argv[2], &expected) != napi_ok) {
    napi_throw_type_error(env, NULL, "nfnetlink.send(fd, buffer, expectedReplies, timeoutMs?)");
    return NULL;
  }
  if (argc >= 4) napi_get_value_int32(env, argv[3], &timeoutMs);
  SendJob *job = calloc(1, sizeof *job);
  if (!job) { napi_throw_error(env, NULL, "nfnetlink: out of memory"); return NULL; }
  void *bytes = NULL;
  size_t length = 0;
  CHECK(napi_get_buffer_info(env, argv[1], &bytes, &length));
  job->fd = fd;
  job->data = bytes;
  job->length = length;
  job->expected = expected;
  job->timeoutMs = timeoutMs > 0 ? timeoutMs : 30000;
  return queueCall(env, &job->call, argv[1], "nfnetlink.send", SendExecute, SendComplete, job);
}

typedef struct {
  int fd;
  const uint8_t *request;
  size_t requestLength;
  int32_t timeoutMs;
  AsyncCall call;
  uint8_t *out;
  size_t outLength, outCapacity;
  int err;
  const char *failedCall;
} DumpJob;

static int dump_append(DumpJob *job, const void *data, size_t n) {
  if (job->outLength + n > job->outCapacity) {
    size_t cap = job->outCapacity ? job->outCapacity * 2 : 1 << 16;
    while (cap < job->outLength + n) cap *= 2;
    uint8_t *next = realloc(job->out, cap);
    if (!next) return ENOMEM;
    job->out = next;
    job->outCapacity = cap;
  }
  memcpy(job->out + job->outLength, data, n);
  job->outLength += n;
  return 0;
}

static void DumpExecute(napi_env env, void *data) {
  (void)env;
  DumpJob *job = data;
  static __thread uint8_t buf[1 << 16];
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  ssize_t sent;
  do sent = sendto(job->fd, job->request, job->requestLength, 0, (struct sockaddr *)&kernel, sizeof kernel); while (sent < 0 && errno == EINTR);
  if (sent < 0) { job->err = errno; job->failedCall = "sendto"; return; }
  int64_t deadline = now_ms() + job->timeoutMs;
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) { job->err = ETIMEDOUT; job->failedCall = "waiting for the dump"; return; }
    struct pollfd p = { .fd = job->fd, .events = POLLIN };
    int r = poll(&p, 1, (int)left);
    if (r < 0) { if (errno == EINTR) continue; job->err = errno; job->failedCall = "poll"; return; }
    if (r == 0) continue;
    ssize_t n = recv(job->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) { if (errno == EINTR || errno == EAGAIN) continue; job->err = errno; job->failedCall = "recv"; return; }
    size_t rest = (size_t)n;
    for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, rest); h = NLMSG_NEXT(h, rest)) {
      if (h->nlmsg_type == NLMSG_DONE) return;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = (const struct nlmsgerr *)NLMSG_DATA(h);
        if (e->error != 0) { job->err = -e->error; job->failedCall = "dump request"; return; }
        continue;
      }
      int a = dump_append(job, h, NLMSG_ALIGN(h->nlmsg_len));
      if (a) { job->err = a; job->failedCall = "collecting the dump"; return; }
    }
  }
}

static void free_out(napi_env env, void *data, void *hint) { (void)env; (void)hint; free(data); }

static void DumpComplete(napi_env env, napi_status status, void *data) {
  DumpJob *job = data;
  if (status == napi_ok && job->err == 0) {
    napi_value result;
    if (job->outLength == 0) { free(job->out); napi_create_buffer(env, 0, NULL, &result); }
    else napi_create_external_buffer(env, job->outLength, job->out, free_out, NULL, &result);
    napi_resolve_deferred(env, job->call.deferred, result);
  } else {
    free(job->out);
    char msg[256];
    snprintf(msg, sizeof msg, "nfnetlink: %s: %s", job->failedCall ? job->failedCall : "dump cancelled", strerror(job->err));
    napi_value message, error, errnoValue;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_create_int32(env, job->err, &errnoValue);
    napi_set_named_property(env, error, "errno", errnoValue);
    napi_reject_deferred(env, job->call.deferred, error);
  }
  finishCall(env, &job->call);
  free(job);
}

static napi_value Dump(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1, timeoutMs = 30000;
  bool isBuffer = false;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_is_buffer(env, argv[1], &isBuffer) != napi_ok || !isBuffer) {
    napi_throw_type_error(env, NULL, "nfnetlink.dump(fd, request, timeoutMs?)");
    return NULL;
  }
  if (argc >= 3) napi_get_value_int32(env, argv[2], &timeoutMs);
  DumpJob *job = calloc(1, sizeof *job);
  if (!job) { napi_throw_error(env, NULL, "nfnetlink: out of memory"); return NULL; }
  void *bytes = NULL;
  size_t length = 0;
  CHECK(napi_get_buffer_info(env, argv[1], &bytes, &length));
  job->fd = fd;
  job->request = bytes;
  job->requestLength = length;
  job->timeoutMs = timeoutMs > 0 ? timeoutMs : 30000;
  return queueCall(env, &job->call, argv[1], "nfnetlink.dump", DumpExecute, DumpComplete, job);
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL },
    { "dump", NULL, Dump, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
