/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_notify datagrams: anything a process in the container can send.  The first byte picks
 * the policy and the fd count, the rest is the datagram.  The lines kept must be lines the
 * policy relays, and filtering them again must keep them all; mergeable results are merged.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "notify_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_kept(const NotifyPolicy *policy, const char *out, size_t len, unsigned kept)
{
        char again[NOTIFY_DATAGRAM_MAX];
        NotifyFiltered f;
        unsigned lines = 0;

        for (const char *p = out, *end = out + len; p < end;) {
                const char *nl = memchr(p, '\n', end - p);
                size_t l = (nl ? nl : end) - p;
                NotifyKey key = notify_key_of_line(p, l);
                g_assert(l > 0 && !memchr(p, '\0', l));
                g_assert(key != NOTIFY_KEY_OTHER && key != NOTIFY_KEY_MAINPID && key != NOTIFY_KEY_MAINPIDFD &&
                         key != NOTIFY_KEY_NOTIFYACCESS && key != NOTIFY_KEY_BARRIER);
                g_assert(notify_key_name(key) != NULL);
                lines++;
                p += l + 1;
        }
        g_assert(lines == kept);
        /* What was kept is kept whole a second time. */
        g_assert(notify_policy_filter(policy, out, len, 0, again, &f, NULL) == 0);
        g_assert(f.out_len == len && memcmp(again, out, len) == 0 && f.dropped == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const size_t fd_counts[] = { 0, 1, 2, 3, NOTIFY_FDS_MAX, NOTIFY_FDS_MAX + 1, 768, (size_t) -1 };
        NotifyLineCounters counters = { 0 };
        char out[NOTIFY_DATAGRAM_MAX + 1];
        NotifyPolicy policy;
        NotifyFiltered f;
        const char *msg;
        size_t len, n_fds;
        int r;

        if (size < 1 || size > NOTIFY_DATAGRAM_MAX + 2)
                return 0;
        policy = (NotifyPolicy){ .watchdog_usec = data[0] & 1, .fdstore = (data[0] >> 1) & 1 };
        n_fds = fd_counts[(data[0] >> 2) & 7];
        msg = (const char *) data + 1;
        len = size - 1;
        r = notify_policy_filter(&policy, msg, len, n_fds, out, &f, &counters);
        if (len > NOTIFY_DATAGRAM_MAX) {
                g_assert(r == -EMSGSIZE);
                return 0;
        }
        g_assert(r == 0 && f.out_len <= len);
        if (f.barrier) {
                g_assert(n_fds == 1 && f.out_len == 0);
                return 0;
        }
        g_assert(f.invalid <= f.dropped);
        g_assert(!f.pass_fds || (n_fds > 0 && n_fds <= NOTIFY_FDS_MAX && (f.flags & NOTIFY_FLAG_FDSTORE)));
        g_assert(!f.mergeable || (f.kept > 0 && !f.pass_fds));
        check_kept(&policy, out, f.out_len, f.kept);
        if (f.mergeable) {
                size_t merged_len = 0;
                g_autofree char *merged = notify_policy_merge(out, f.out_len, out, f.out_len, &merged_len);
                /* Every key of the newer copy replaces the older one's: the copy itself. */
                g_assert(merged && merged_len == f.out_len && memcmp(merged, out, f.out_len) == 0);
        }
        return 0;
}
