/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_notify datagrams as a container sends them, and the policy deciding which lines reach
 * the host.  Pure functions on buffers: no I/O, no state beyond the counters the caller
 * passes in, so every rule is unit-tested (tests/unit/test-notify_policy.c).
 *
 * A datagram is a list of KEY=VALUE lines.  Every line counts, wherever it stands (runc looks
 * only at the start of the datagram and loses "STATUS=x\nREADY=1").  Invalid lines are
 * dropped, valid ones kept, and both are counted per key.  The lines kept go on to the host
 * as one datagram, so RELOADING=1 and its MONOTONIC_USEC= stay together.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

/* systemd's NOTIFY_BUFFER_MAX: a longer datagram is dropped whole. */
#define NOTIFY_DATAGRAM_MAX 4096
/* The kernel's SCM_MAX_FD: more cannot be passed on in one message. */
#define NOTIFY_FDS_MAX 253
/* systemd's FDNAME_MAX. */
#define NOTIFY_FDNAME_MAX 255

typedef enum {
        NOTIFY_KEY_READY,
        NOTIFY_KEY_RELOADING,
        NOTIFY_KEY_STOPPING,
        NOTIFY_KEY_STATUS,
        NOTIFY_KEY_ERRNO,
        NOTIFY_KEY_BUSERROR,
        NOTIFY_KEY_VARLINKERROR,
        NOTIFY_KEY_WATCHDOG,
        NOTIFY_KEY_EXTEND_TIMEOUT_USEC,
        NOTIFY_KEY_MONOTONIC_USEC,
        NOTIFY_KEY_X,                   /* X_* private extensions */
        NOTIFY_KEY_WATCHDOG_USEC,       /* relayed when enabled */
        NOTIFY_KEY_FDSTORE,             /* fd store: relayed when enabled */
        NOTIFY_KEY_FDSTOREREMOVE,
        NOTIFY_KEY_FDNAME,
        NOTIFY_KEY_FDPOLL,
        NOTIFY_KEY_MAINPID,             /* never relayed */
        NOTIFY_KEY_MAINPIDFD,           /* MAINPIDFD=, MAINPIDFDID=: never relayed */
        NOTIFY_KEY_NOTIFYACCESS,        /* never relayed */
        NOTIFY_KEY_BARRIER,             /* answered locally, never relayed */
        NOTIFY_KEY_OTHER,               /* unknown keys and lines that are not KEY=VALUE */
        NOTIFY_KEY__MAX
} NotifyKey;

/* What is relayed beyond the always-on keys. */
typedef struct {
        gboolean watchdog_usec;
        gboolean fdstore;
} NotifyPolicy;

/* Per-line counters, indexed by NotifyKey; the caller owns them and they only grow. */
typedef struct {
        uint64_t relayed[NOTIFY_KEY__MAX];
        uint64_t dropped[NOTIFY_KEY__MAX];      /* forbidden, disabled or invalid */
        uint64_t invalid[NOTIFY_KEY__MAX];      /* the subset of dropped with a bad value */
} NotifyLineCounters;

/* Flags of a filtered datagram: the state changes the lines kept announce. */
enum {
        NOTIFY_FLAG_READY = 1 << 0,
        NOTIFY_FLAG_RELOADING = 1 << 1,
        NOTIFY_FLAG_STOPPING = 1 << 2,
        NOTIFY_FLAG_WATCHDOG = 1 << 3,
        NOTIFY_FLAG_WATCHDOG_TRIGGER = 1 << 4,
        NOTIFY_FLAG_STATUS = 1 << 5,
        NOTIFY_FLAG_FDSTORE = 1 << 6,           /* FDSTORE=1 kept: the fds go with it */
};

typedef struct {
        size_t out_len;         /* bytes written to the output buffer; 0: nothing to relay */
        unsigned flags;         /* NOTIFY_FLAG_* of the lines kept */
        unsigned kept;          /* lines */
        unsigned dropped;       /* lines, invalid ones included */
        unsigned invalid;
        gboolean barrier;       /* a well-formed BARRIER=1: alone, with exactly one fd */
        gboolean pass_fds;      /* the datagram's fds go to the host with the lines kept */
        gboolean mergeable;     /* only last-value-wins lines, no fds: see notify_policy_merge() */
} NotifyFiltered;

/* "READY", "X_", ... for logs and the control socket's per-key counters. */
const char *notify_key_name(NotifyKey key);

/* The key of one "KEY=VALUE" line (@len bytes, no newline). */
NotifyKey notify_key_of_line(const char *line, size_t len);

/**
 * notify_policy_filter() - apply @policy to one received datagram.
 * @data, @len: the payload as received.
 * @n_fds: how many fds came with it (SCM_RIGHTS).
 * @out: at least @len bytes; receives the lines kept, joined by '\n', without a trailing one.
 * @ret: the result.
 * @counters: updated per line; may be NULL.
 *
 * Return: 0, -EMSGSIZE for a datagram over NOTIFY_DATAGRAM_MAX (dropped whole, counted
 * nowhere: the caller counts datagrams).
 */
int notify_policy_filter(const NotifyPolicy *policy, const char *data, size_t len, size_t n_fds, char *out,
                         NotifyFiltered *ret, NotifyLineCounters *counters);

/**
 * notify_policy_merge() - fold a newer mergeable message into an older one still queued.
 * Lines of @newer replace the lines of @older with the same key; the other lines of @older
 * stay, first.  A flood of STATUS= updates thus costs one queue slot and the host still gets
 * the latest one.
 * Return: the merged message (g_free), or NULL when it would exceed NOTIFY_DATAGRAM_MAX.
 */
char *notify_policy_merge(const char *older, size_t older_len, const char *newer, size_t newer_len,
                          size_t *ret_len);

/* Validators, exported for the tests and for vigil's own messages. */
gboolean notify_value_is_uint(const char *value, size_t len);
gboolean notify_value_is_status(const char *value, size_t len);
gboolean notify_value_is_fdname(const char *value, size_t len);
