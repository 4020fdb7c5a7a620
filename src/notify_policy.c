/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "notify_policy.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

typedef enum {
        VALUE_ONE,              /* exactly "1" */
        VALUE_BOOL01,           /* "0" or "1" */
        VALUE_WATCHDOG,         /* "1" or "trigger" */
        VALUE_UINT64,
        VALUE_ERRNO,            /* 0..INT_MAX */
        VALUE_TEXT,             /* one line of UTF-8 */
        VALUE_BUS_NAME,         /* D-Bus error name */
        VALUE_VARLINK_NAME,     /* Varlink error name */
        VALUE_FDNAME,
        VALUE_ANY,              /* never relayed: not looked at */
} ValueRule;

typedef enum {
        RELAY_ALWAYS,
        RELAY_IF_WATCHDOG_USEC,
        RELAY_IF_FDSTORE,
        RELAY_NEVER,
} RelayRule;

typedef struct {
        const char *name;
        NotifyKey key;
        ValueRule value;
        RelayRule relay;
        gboolean mergeable;     /* last value wins: a newer message may replace it */
} KeyInfo;

static const KeyInfo keys[] = {
        { "READY", NOTIFY_KEY_READY, VALUE_ONE, RELAY_ALWAYS, FALSE },
        { "RELOADING", NOTIFY_KEY_RELOADING, VALUE_ONE, RELAY_ALWAYS, FALSE },
        { "STOPPING", NOTIFY_KEY_STOPPING, VALUE_ONE, RELAY_ALWAYS, FALSE },
        { "STATUS", NOTIFY_KEY_STATUS, VALUE_TEXT, RELAY_ALWAYS, TRUE },
        { "ERRNO", NOTIFY_KEY_ERRNO, VALUE_ERRNO, RELAY_ALWAYS, TRUE },
        { "BUSERROR", NOTIFY_KEY_BUSERROR, VALUE_BUS_NAME, RELAY_ALWAYS, TRUE },
        { "VARLINKERROR", NOTIFY_KEY_VARLINKERROR, VALUE_VARLINK_NAME, RELAY_ALWAYS, TRUE },
        { "WATCHDOG", NOTIFY_KEY_WATCHDOG, VALUE_WATCHDOG, RELAY_ALWAYS, TRUE },
        { "EXTEND_TIMEOUT_USEC", NOTIFY_KEY_EXTEND_TIMEOUT_USEC, VALUE_UINT64, RELAY_ALWAYS, TRUE },
        { "MONOTONIC_USEC", NOTIFY_KEY_MONOTONIC_USEC, VALUE_UINT64, RELAY_ALWAYS, TRUE },
        { "WATCHDOG_USEC", NOTIFY_KEY_WATCHDOG_USEC, VALUE_UINT64, RELAY_IF_WATCHDOG_USEC, TRUE },
        { "FDSTORE", NOTIFY_KEY_FDSTORE, VALUE_ONE, RELAY_IF_FDSTORE, FALSE },
        { "FDSTOREREMOVE", NOTIFY_KEY_FDSTOREREMOVE, VALUE_ONE, RELAY_IF_FDSTORE, FALSE },
        { "FDNAME", NOTIFY_KEY_FDNAME, VALUE_FDNAME, RELAY_IF_FDSTORE, FALSE },
        { "FDPOLL", NOTIFY_KEY_FDPOLL, VALUE_BOOL01, RELAY_IF_FDSTORE, FALSE },
        { "MAINPID", NOTIFY_KEY_MAINPID, VALUE_ANY, RELAY_NEVER, FALSE },
        { "MAINPIDFD", NOTIFY_KEY_MAINPIDFD, VALUE_ANY, RELAY_NEVER, FALSE },
        { "MAINPIDFDID", NOTIFY_KEY_MAINPIDFD, VALUE_ANY, RELAY_NEVER, FALSE },
        { "NOTIFYACCESS", NOTIFY_KEY_NOTIFYACCESS, VALUE_ANY, RELAY_NEVER, FALSE },
        { "BARRIER", NOTIFY_KEY_BARRIER, VALUE_ONE, RELAY_NEVER, FALSE },
};

/* X_ extensions: relayed, last value wins. */
static const KeyInfo x_key = { "X_", NOTIFY_KEY_X, VALUE_TEXT, RELAY_ALWAYS, TRUE };
static const KeyInfo other_key = { "OTHER", NOTIFY_KEY_OTHER, VALUE_ANY, RELAY_NEVER, FALSE };

const char *notify_key_name(NotifyKey key)
{
        if (key == NOTIFY_KEY_X)
                return x_key.name;
        if (key == NOTIFY_KEY_MAINPIDFD)
                return "MAINPIDFD";
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
                if (keys[i].key == key)
                        return keys[i].name;
        return other_key.name;
}

/* Environment-variable names: what systemd accepts as an assignment's key. */
static gboolean is_key_name(const char *s, size_t len)
{
        if (len == 0 || g_ascii_isdigit(s[0]))
                return FALSE;
        for (size_t i = 0; i < len; i++)
                if (!g_ascii_isalnum(s[i]) && s[i] != '_')
                        return FALSE;
        return TRUE;
}

static const KeyInfo *key_info(const char *line, size_t len, size_t *ret_key_len)
{
        const char *eq = memchr(line, '=', len);
        size_t klen;

        if (!eq)
                return &other_key;
        klen = eq - line;
        *ret_key_len = klen;
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
                if (strlen(keys[i].name) == klen && memcmp(keys[i].name, line, klen) == 0)
                        return &keys[i];
        if (klen > 2 && memcmp(line, "X_", 2) == 0 && is_key_name(line, klen))
                return &x_key;
        return &other_key;
}

NotifyKey notify_key_of_line(const char *line, size_t len)
{
        size_t klen;

        return key_info(line, len, &klen)->key;
}

gboolean notify_value_is_uint(const char *value, size_t len)
{
        uint64_t v = 0;

        if (len == 0 || len > 20)
                return FALSE;
        for (size_t i = 0; i < len; i++) {
                unsigned d;
                if (!g_ascii_isdigit(value[i]))
                        return FALSE;
                d = value[i] - '0';
                if (v > (UINT64_MAX - d) / 10)
                        return FALSE;
                v = v * 10 + d;
        }
        return TRUE;
}

static gboolean value_is_errno(const char *value, size_t len)
{
        uint64_t v = 0;

        if (!notify_value_is_uint(value, len) || len > 10)
                return FALSE;
        for (size_t i = 0; i < len; i++)
                v = v * 10 + (value[i] - '0');
        return v <= INT_MAX;
}

gboolean notify_value_is_status(const char *value, size_t len)
{
        const char *end;

        if (!g_utf8_validate(value, len, &end) || end != value + len)
                return FALSE;
        /* One line shown by `systemctl status`: no control characters at all. */
        for (size_t i = 0; i < len; i++) {
                unsigned char c = value[i];
                if (c < 0x20 || c == 0x7f)
                        return FALSE;
        }
        return TRUE;
}

gboolean notify_value_is_fdname(const char *value, size_t len)
{
        if (len == 0 || len > NOTIFY_FDNAME_MAX)
                return FALSE;
        /* systemd's rule for $LISTEN_FDNAMES entries: printable ASCII, and ':' separates them. */
        for (size_t i = 0; i < len; i++) {
                unsigned char c = value[i];
                if (c < 0x20 || c >= 0x7f || c == ':')
                        return FALSE;
        }
        return TRUE;
}

/* "a.b.C" with at least two elements, each [A-Za-z_][A-Za-z0-9_]* (plus '-' for Varlink). */
static gboolean value_is_dotted_name(const char *value, size_t len, gboolean dashes)
{
        size_t elements = 0, elen = 0;

        if (len == 0 || len > 255)
                return FALSE;
        for (size_t i = 0; i <= len; i++) {
                char c = i < len ? value[i] : '.';
                if (c == '.') {
                        if (elen == 0)
                                return FALSE;
                        elements++;
                        elen = 0;
                } else if (elen == 0 ? (g_ascii_isalpha(c) || c == '_')
                                     : (g_ascii_isalnum(c) || c == '_' || (dashes && c == '-'))) {
                        elen++;
                } else {
                        return FALSE;
                }
        }
        return elements >= 2;
}

static gboolean value_valid(ValueRule rule, const char *v, size_t len)
{
        switch (rule) {
        case VALUE_ONE:
                return len == 1 && v[0] == '1';
        case VALUE_BOOL01:
                return len == 1 && (v[0] == '0' || v[0] == '1');
        case VALUE_WATCHDOG:
                return (len == 1 && v[0] == '1') || (len == 7 && memcmp(v, "trigger", 7) == 0);
        case VALUE_UINT64:
                return notify_value_is_uint(v, len);
        case VALUE_ERRNO:
                return value_is_errno(v, len);
        case VALUE_TEXT:
                return notify_value_is_status(v, len);
        case VALUE_BUS_NAME:
                return value_is_dotted_name(v, len, FALSE);
        case VALUE_VARLINK_NAME:
                return value_is_dotted_name(v, len, TRUE);
        case VALUE_FDNAME:
                return notify_value_is_fdname(v, len);
        case VALUE_ANY:
                return TRUE;
        }
        return FALSE;
}

static gboolean relay_allowed(RelayRule rule, const NotifyPolicy *policy)
{
        switch (rule) {
        case RELAY_ALWAYS:
                return TRUE;
        case RELAY_IF_WATCHDOG_USEC:
                return policy->watchdog_usec;
        case RELAY_IF_FDSTORE:
                return policy->fdstore;
        case RELAY_NEVER:
                return FALSE;
        }
        return FALSE;
}

static unsigned line_flags(NotifyKey key, const char *value, size_t len)
{
        switch (key) {
        case NOTIFY_KEY_READY:
                return NOTIFY_FLAG_READY;
        case NOTIFY_KEY_RELOADING:
                return NOTIFY_FLAG_RELOADING;
        case NOTIFY_KEY_STOPPING:
                return NOTIFY_FLAG_STOPPING;
        case NOTIFY_KEY_STATUS:
                return NOTIFY_FLAG_STATUS;
        case NOTIFY_KEY_FDSTORE:
                return NOTIFY_FLAG_FDSTORE;
        case NOTIFY_KEY_WATCHDOG:
                return len == 1 ? NOTIFY_FLAG_WATCHDOG : NOTIFY_FLAG_WATCHDOG_TRIGGER;
        default:
                return 0;
        }
}

/* BARRIER=1 alone (blank lines aside) with exactly one fd, as sd_notify_barrier() sends it. */
static gboolean is_barrier_message(const char *data, size_t len, size_t n_fds)
{
        gboolean seen = FALSE;
        const char *p = data, *end = data + len;

        if (n_fds != 1)
                return FALSE;
        while (p < end) {
                const char *nl = memchr(p, '\n', end - p);
                size_t l = (nl ? nl : end) - p;
                if (l > 0) {
                        if (seen || l != 9 || memcmp(p, "BARRIER=1", 9) != 0)
                                return FALSE;
                        seen = TRUE;
                }
                p += l + 1;
        }
        return seen;
}

int notify_policy_filter(const NotifyPolicy *policy, const char *data, size_t len, size_t n_fds, char *out,
                         NotifyFiltered *ret, NotifyLineCounters *counters)
{
        const char *p = data, *end = data + len;
        gboolean mergeable = TRUE;

        memset(ret, 0, sizeof(*ret));
        if (len > NOTIFY_DATAGRAM_MAX)
                return -EMSGSIZE;
        if (is_barrier_message(data, len, n_fds)) {
                ret->barrier = TRUE;
                if (counters)
                        counters->relayed[NOTIFY_KEY_BARRIER]++;
                return 0;
        }
        while (p < end) {
                const char *nl = memchr(p, '\n', end - p);
                size_t l = (nl ? nl : end) - p, klen = 0;
                const char *line = p;
                const KeyInfo *info;
                gboolean valid;

                p += l + 1;
                if (l == 0)
                        continue;
                info = key_info(line, l, &klen);
                /* An embedded NUL would cut the line short on the host. */
                valid = info->key != NOTIFY_KEY_OTHER && !memchr(line, '\0', l) &&
                        value_valid(info->value, line + klen + 1, l - klen - 1);
                if (!valid || !relay_allowed(info->relay, policy)) {
                        ret->dropped++;
                        if (!valid && info->key != NOTIFY_KEY_OTHER)
                                ret->invalid++;
                        if (counters) {
                                counters->dropped[info->key]++;
                                if (!valid && info->key != NOTIFY_KEY_OTHER)
                                        counters->invalid[info->key]++;
                        }
                        continue;
                }
                if (ret->out_len > 0)
                        out[ret->out_len++] = '\n';
                memcpy(out + ret->out_len, line, l);
                ret->out_len += l;
                ret->kept++;
                ret->flags |= line_flags(info->key, line + klen + 1, l - klen - 1);
                if (!info->mergeable || (info->key == NOTIFY_KEY_WATCHDOG && l - klen - 1 != 1))
                        mergeable = FALSE;
                if (counters)
                        counters->relayed[info->key]++;
        }
        ret->pass_fds = n_fds > 0 && n_fds <= NOTIFY_FDS_MAX && (ret->flags & NOTIFY_FLAG_FDSTORE);
        ret->mergeable = ret->kept > 0 && mergeable && !ret->pass_fds;
        return 0;
}

/* Length of the key of @line (up to '='), or of the whole line. */
static size_t line_key_len(const char *line, size_t len)
{
        const char *eq = memchr(line, '=', len);

        return eq ? (size_t) (eq - line) : len;
}

static gboolean has_key(const char *msg, size_t len, const char *key, size_t klen)
{
        const char *p = msg, *end = msg + len;

        while (p < end) {
                const char *nl = memchr(p, '\n', end - p);
                size_t l = (nl ? nl : end) - p;
                if (line_key_len(p, l) == klen && memcmp(p, key, klen) == 0)
                        return TRUE;
                p += l + 1;
        }
        return FALSE;
}

char *notify_policy_merge(const char *older, size_t older_len, const char *newer, size_t newer_len,
                          size_t *ret_len)
{
        GString *s = g_string_sized_new(older_len + newer_len + 1);
        const char *p = older, *end = older + older_len;

        while (p < end) {
                const char *nl = memchr(p, '\n', end - p);
                size_t l = (nl ? nl : end) - p;
                if (l > 0 && !has_key(newer, newer_len, p, line_key_len(p, l))) {
                        g_string_append_len(s, p, l);
                        g_string_append_c(s, '\n');
                }
                p += l + 1;
        }
        g_string_append_len(s, newer, newer_len);
        if (s->len > NOTIFY_DATAGRAM_MAX) {
                g_string_free(s, TRUE);
                return NULL;
        }
        *ret_len = s->len;
        return g_string_free(s, FALSE);
}
