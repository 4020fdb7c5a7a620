/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket from the wire up: anything a local client can send, through the NUL
 * framing, the size and depth limits, json-glib and dispatch, against fake ControlOps.  The
 * server serves one end of a socketpair; the bytes go in through the other end.
 *
 * The first byte steers the run, the rest is the stream:
 *   bits 0-3  written in chunks of 2^n bytes (1 .. 32 KiB), the loop run after each
 *   bit 4     replies are read only at the end (queues fill, output pauses, limits bite)
 *   bit 5     the client ends with shutdown(SHUT_WR) instead of close()
 *   bit 6     the container exits before the server is freed (Wait and Subscribe answered)
 *   bit 7     an event goes to subscribers after every chunk: "status" and "ready" in turn
 *             (a "ready" answers WaitReady)
 */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control_private.h"
#include "fdutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static JsonApi json;
static unsigned calls;

static void fake_state(gpointer data, ControlState *st)
{
        st->id = "0123456789abcdef";
        st->runtime = "/usr/bin/runc";
        st->container_pid = 4242;
        st->monitor_pid = 4241;
        st->status = CONTROL_STATUS_RUNNING;
        st->notify = (ControlNotifyState){ .enabled = TRUE, .status = "fuzzing" };
        st->health = (ControlHealthState){ .enabled = TRUE, .status = "healthy" };
}

static void fake_stats(gpointer data, ControlStats *st)
{
        static const ControlCounter counters[] = { { "READY", 1 } };

        st->notify_counters = counters;
        st->n_notify_counters = G_N_ELEMENTS(counters);
}

/* Success and each kind of failure in turn. */
static int fake_result(void)
{
        static const int results[] = { 0, -ESRCH, -ENOTTY, -EPERM };

        return results[calls++ % G_N_ELEMENTS(results)];
}

static int fake_kill(gpointer data, int signo)
{
        return fake_result();
}

static int fake_resize(gpointer data, int rows, int cols)
{
        return fake_result();
}

static int fake_reopen(gpointer data, const char **failed_path)
{
        int r = fake_result();

        if (r < 0)
                *failed_path = "/fuzz/\xff.log";
        return r;
}

static const ControlOps ops = {
        .get_state = fake_state,
        .get_stats = fake_stats,
        .kill = fake_kill,
        .resize = fake_resize,
        .reopen_log = fake_reopen,
};

static void spin(void)
{
        while (g_main_context_iteration(NULL, FALSE))
                ;
}

static void drain(int fd)
{
        char buf[4096];

        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ;
}

/* Writes @len bytes, running the server meanwhile; FALSE once the server has hung up. */
static gboolean feed(int fd, const uint8_t *data, size_t len, gboolean read_replies)
{
        int stuck = 0;

        while (len > 0) {
                ssize_t n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return FALSE;
                if (n > 0) {
                        data += n;
                        len -= n;
                        stuck = 0;
                } else if (++stuck > 3) {
                        return FALSE; /* the server stopped reading: its limits decide */
                }
                spin();
                if (read_replies)
                        drain(fd);
        }
        return TRUE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ControlLimits limits = CONTROL_LIMITS_DEFAULT;
        ControlEvent ev = { .type = "status", .text = "fuzz\xc3" };
        ControlServer *s;
        uint8_t flags;
        size_t chunk;
        int sv[2];

        if (size < 1)
                return 0;
        flags = data[0];
        data++, size--;
        chunk = (size_t) 1 << (flags & 0x0f);
        /* Small limits, so the fuzzer reaches them with small inputs. */
        limits.message_max = 4096;
        limits.depth_max = 8;
        limits.output_max = 16384;
        limits.clients_max = 4;
        limits.waiting_max = 2;
        g_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
        s = control_server_new_for_fd(-1, &ops, NULL, &json, &limits);
        control_server_adopt(s, sv[0]);
        for (size_t off = 0; off < size; off += chunk) {
                if (!feed(sv[1], data + off, MIN(chunk, size - off), !(flags & 0x10)))
                        break;
                ev.type = (off / chunk) % 2 ? "ready" : "status";
                if (flags & 0x80)
                        control_server_emit(s, &ev);
        }
        if (flags & 0x20) {
                shutdown(sv[1], SHUT_WR);
                spin();
                drain(sv[1]);
        } else {
                fd_clear(&sv[1]);
        }
        spin();
        if (flags & 0x40)
                control_server_exited(s);
        spin();
        if (sv[1] >= 0)
                drain(sv[1]);
        control_server_free(s);
        fd_close(sv[1]);
        return 0;
}
