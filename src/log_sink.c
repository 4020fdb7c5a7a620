/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log_sink.h"

#include <string.h>

void log_sink_free(LogSink *sink)
{
        if (sink)
                sink->ops->free(sink);
}

static void put_digits(char *p, long value, int width)
{
        for (int i = width - 1; i >= 0; i--) {
                p[i] = '0' + value % 10;
                value /= 10;
        }
}

void log_format_timestamp(TimestampCache *cache, const struct timespec *ts, char *buf)
{
        if (cache->second != ts->tv_sec || !cache->text[0]) {
                struct tm tm;
                long off;

                localtime_r(&ts->tv_sec, &tm);
                off = tm.tm_gmtoff / 60;
                /* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+HH:MM": the digits change once a second. */
                strftime(cache->text, 20, "%Y-%m-%dT%H:%M:%S", &tm);
                cache->text[19] = '.';
                cache->text[29] = off < 0 ? '-' : '+';
                off = off < 0 ? -off : off;
                put_digits(cache->text + 30, off / 60, 2);
                cache->text[32] = ':';
                put_digits(cache->text + 33, off % 60, 2);
                cache->text[LOG_TIMESTAMP_LEN] = '\0';
                cache->second = ts->tv_sec;
        }
        memcpy(buf, cache->text, LOG_TIMESTAMP_LEN + 1);
        put_digits(buf + 20, ts->tv_nsec, 9);
}
