/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vigilctl ps and top: every live monitor in the registry, asked for GetState and GetStats.
 * top takes two samples an interval apart for its rates (CPU, log bytes per second) and,
 * unless --no-stream, redraws in place every interval as `podman stats` does.  The monitor's
 * own memory is its Private_Dirty (/proc/PID/smaps_rollup), what one more monitor costs.
 */
#include "vigilctl.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
        char *id;
        JsonObject *state;
        JsonObject *stats;
        gint64 when;            /* monotonic usec of the sample */
        gint64 monitor_mem;     /* bytes; -1 unknown */
} Row;

static void row_free(Row *r)
{
        g_free(r->id);
        if (r->state)
                json_object_unref(r->state);
        if (r->stats)
                json_object_unref(r->stats);
        g_free(r);
}

/* /proc/PID/smaps_rollup's Private_Dirty, else status' VmRSS; -1 if neither is readable. */
static gint64 monitor_memory(gint64 pid)
{
        static const char *const sources[][2] = { { "smaps_rollup", "Private_Dirty:" }, { "status", "VmRSS:" } };

        for (size_t i = 0; i < G_N_ELEMENTS(sources); i++) {
                g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/%s", pid, sources[i][0]);
                g_autofree char *text = NULL;
                const char *line;
                if (!g_file_get_contents(path, &text, NULL, NULL) || !(line = strstr(text, sources[i][1])))
                        continue;
                return g_ascii_strtoll(line + strlen(sources[i][1]), NULL, 10) * 1024;
        }
        return -1;
}

static gint64 member_int(JsonObject *o, const char *key, gint64 fallback)
{
        JsonNode *n = o ? json_object_get_member(o, key) : NULL;

        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64 ? json_node_get_int(n)
                                                                                              : fallback;
}

static const char *member_str(JsonObject *o, const char *key)
{
        JsonNode *n = o ? json_object_get_member(o, key) : NULL;

        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n)
                                                                                               : NULL;
}

static Row *sample(const LiveEntry *e, Conn *conn)
{
        Row *r;
        g_autoptr(JsonObject) state = call(conn, IFACE "GetState", NULL);
        g_autoptr(JsonObject) stats = state ? call(conn, IFACE "GetStats", NULL) : NULL;

        /* Whatever listens there may answer without them: that row is left out. */
        if (!member_object(state, "state") || !member_object(stats, "stats"))
                return NULL;
        r = g_new0(Row, 1);
        r->id = g_strdup(e->key);
        r->state = json_object_ref(member_object(state, "state"));
        r->stats = json_object_ref(member_object(stats, "stats"));
        r->when = g_get_monotonic_time();
        r->monitor_mem = monitor_memory(member_int(r->state, "monitor_pid", 0));
        return r;
}

static void add_sample(const LiveEntry *e, Conn *conn, gpointer data)
{
        Row *r = sample(e, conn);

        if (r)
                g_ptr_array_add(data, r);
}

static gint cmp_row(gconstpointer a, gconstpointer b)
{
        return strcmp((*(Row *const *) a)->id, (*(Row *const *) b)->id);
}

/* Each monitor is asked while its listing connection is open: one connection each, and one
 * fd at a time however many containers the host runs. */
static GPtrArray *sample_all(const Ctl *ctl)
{
        GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify) row_free);

        target_visit(ctl, "", add_sample, rows);
        g_ptr_array_sort(rows, cmp_row);
        return rows;
}

/* --- formatting ---------------------------------------------------------------------------- */

static char *human_bytes(gint64 n)
{
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) n;
        size_t u = 0;

        if (n < 0)
                return g_strdup("-");
        while (v >= 1024 && u + 1 < G_N_ELEMENTS(units)) {
                v /= 1024;
                u++;
        }
        return u == 0 ? g_strdup_printf("%" G_GINT64_FORMAT "B", n) : g_strdup_printf("%.1f%s", v, units[u]);
}

static char *human_duration(gint64 sec)
{
        if (sec < 0)
                return g_strdup("-");
        if (sec < 60)
                return g_strdup_printf("%" G_GINT64_FORMAT "s", sec);
        if (sec < 3600)
                return g_strdup_printf("%" G_GINT64_FORMAT "m%02" G_GINT64_FORMAT "s", sec / 60, sec % 60);
        if (sec < 86400)
                return g_strdup_printf("%" G_GINT64_FORMAT "h%02" G_GINT64_FORMAT "m", sec / 3600, sec % 3600 / 60);
        return g_strdup_printf("%" G_GINT64_FORMAT "d%02" G_GINT64_FORMAT "h", sec / 86400, sec % 86400 / 3600);
}

/* Seconds since the container's process started; -1 unless it runs. */
static gint64 uptime_sec(JsonObject *state)
{
        const char *started = member_str(state, "started");
        g_autoptr(GDateTime) t = started ? g_date_time_new_from_iso8601(started, NULL) : NULL;

        if (!t || g_strcmp0(member_str(state, "status"), "running") != 0)
                return -1;
        return MAX(0, g_get_real_time() / G_USEC_PER_SEC - g_date_time_to_unix(t));
}

static gint64 log_bytes(JsonObject *stats)
{
        JsonObject *log = member_object(stats, "log");

        return member_int(member_object(log, "stdout"), "bytes", 0) + member_int(member_object(log, "stderr"), "bytes", 0);
}

static const char *notify_word(JsonObject *notify)
{
        if (!notify)
                return "-";
        if (json_object_get_boolean_member_with_default(notify, "stopping", FALSE))
                return "stopping";
        if (json_object_get_boolean_member_with_default(notify, "reloading", FALSE))
                return "reloading";
        return json_object_get_boolean_member_with_default(notify, "ready", FALSE) ? "ready" : "waiting";
}

/* Container-supplied text in one table cell: no control characters, bounded. */
static char *cell_text(const char *text)
{
        g_autofree char *s = g_strdup(text ? text : "");

        for (char *p = s; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f)
                        *p = ' ';
        if (!g_utf8_validate(s, -1, NULL))
                return g_utf8_make_valid(s, -1);
        if (g_utf8_strlen(s, -1) > 40) {
                g_autofree char *head = g_utf8_substring(s, 0, 39);
                return g_strconcat(head, "…", NULL);
        }
        return g_steal_pointer(&s);
}

static char *short_id(const char *id)
{
        return g_strndup(id, 12);
}

static char *int_or_dash(gint64 v)
{
        return v < 0 ? g_strdup("-") : g_strdup_printf("%" G_GINT64_FORMAT, v);
}

/* Prints @cells (rows of @ncols strings, the first the header) with aligned columns. */
static void print_table(GPtrArray *cells, guint ncols)
{
        g_autofree gsize *width = g_new0(gsize, ncols);

        for (guint i = 0; i < cells->len; i++)
                for (guint c = 0; c < ncols; c++)
                        width[c] = MAX(width[c], (gsize) g_utf8_strlen(((char **) cells->pdata[i])[c], -1));
        for (guint i = 0; i < cells->len; i++) {
                char **row = cells->pdata[i];
                g_autoptr(GString) line = g_string_new(NULL);
                for (guint c = 0; c < ncols; c++) {
                        /* Padding by characters: printf's width counts bytes. */
                        gsize pad = c + 1 < ncols ? width[c] - g_utf8_strlen(row[c], -1) + 2 : 0;
                        g_string_append_printf(line, "%s%*s", row[c], (int) pad, "");
                }
                while (line->len && line->str[line->len - 1] == ' ')
                        g_string_truncate(line, line->len - 1);
                printf("%s\n", line->str);
        }
}

/* --- ps -------------------------------------------------------------------------------------- */

static const char *const ps_header[] = { "ID", "NAME", "MONITOR", "PID", "STATE", "UPTIME", "EXIT", "LOG",
                                         "NOTIFY", "HEALTH", "STATUS" };

static char **ps_cells(Row *r)
{
        JsonObject *st = r->state;
        JsonObject *notify = member_object(st, "notify");
        JsonObject *health = member_object(st, "health");
        char **row = g_new0(char *, G_N_ELEMENTS(ps_header) + 1);

        row[0] = short_id(r->id);
        row[1] = g_strdup(member_str(st, "name") ? member_str(st, "name") : "-");
        row[2] = int_or_dash(member_int(st, "monitor_pid", -1));
        row[3] = int_or_dash(member_int(st, "pid", -1));
        row[4] = g_strdup(member_str(st, "status") ? member_str(st, "status") : "?");
        row[5] = human_duration(uptime_sec(st));
        row[6] = int_or_dash(member_int(st, "exit_code", -1));
        row[7] = human_bytes(log_bytes(r->stats));
        row[8] = g_strdup(notify_word(notify));
        row[9] = g_strdup(member_str(health, "status") ? member_str(health, "status") : "-");
        row[10] = cell_text(member_str(notify, "status"));
        return row;
}

static void add_optional_object(JsonBuilder *b, const char *key, JsonObject *o)
{
        json_builder_set_member_name(b, key);
        if (o) {
                JsonNode *n = json_node_new(JSON_NODE_OBJECT);
                json_node_set_object(n, o);
                json_builder_add_value(b, n);
        } else {
                json_builder_add_null_value(b);
        }
}

static void add_int_or_null(JsonBuilder *b, const char *key, JsonObject *o, const char *member)
{
        json_builder_set_member_name(b, key);
        if (o && json_object_has_member(o, member))
                json_builder_add_int_value(b, member_int(o, member, -1));
        else
                json_builder_add_null_value(b);
}

static void add_str_or_null(JsonBuilder *b, const char *key, const char *value)
{
        json_builder_set_member_name(b, key);
        if (value)
                json_builder_add_string_value(b, value);
        else
                json_builder_add_null_value(b);
}

static void ps_json_row(JsonBuilder *b, Row *r)
{
        JsonObject *st = r->state;
        gint64 up = uptime_sec(st);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, r->id);
        add_str_or_null(b, "name", member_str(st, "name"));
        add_int_or_null(b, "monitor_pid", st, "monitor_pid");
        add_int_or_null(b, "pid", st, "pid");
        add_str_or_null(b, "status", member_str(st, "status"));
        json_builder_set_member_name(b, "uptime_sec");
        if (up >= 0)
                json_builder_add_int_value(b, up);
        else
                json_builder_add_null_value(b);
        add_int_or_null(b, "exit_code", st, "exit_code");
        json_builder_set_member_name(b, "log_bytes");
        json_builder_add_int_value(b, log_bytes(r->stats));
        add_optional_object(b, "notify", member_object(st, "notify"));
        add_optional_object(b, "health", member_object(st, "health"));
        json_builder_end_object(b);
}

static void print_json_rows(GPtrArray *rows, void (*add)(JsonBuilder *, Row *, Row *), GPtrArray *before)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *text = NULL;

        json_builder_begin_array(b);
        for (guint i = 0; i < rows->len; i++)
                add(b, rows->pdata[i], before ? before->pdata[i] : NULL);
        json_builder_end_array(b);
        root = json_builder_get_root(b);
        text = json_to_string(root, TRUE);
        printf("%s\n", text);
}

static void ps_json_add(JsonBuilder *b, Row *r, Row *unused)
{
        ps_json_row(b, r);
}

int cmd_ps(const Ctl *ctl)
{
        g_autoptr(GPtrArray) rows = sample_all(ctl);
        g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);

        if (ctl->json) {
                print_json_rows(rows, ps_json_add, NULL);
                return 0;
        }
        g_ptr_array_add(cells, g_strdupv((char **) ps_header));
        for (guint i = 0; i < rows->len; i++)
                g_ptr_array_add(cells, ps_cells(rows->pdata[i]));
        print_table(cells, G_N_ELEMENTS(ps_header));
        return 0;
}

/* --- top ------------------------------------------------------------------------------------- */

typedef struct {
        double cpu;             /* percent of one CPU; < 0 unknown */
        double monitor_cpu;
        double log_rate;        /* bytes per second */
} Rates;

static gint64 monitor_cpu_usec(JsonObject *stats)
{
        JsonObject *m = member_object(stats, "monitor");

        return member_int(m, "cpu_user_usec", 0) + member_int(m, "cpu_system_usec", 0);
}

static Rates rates(Row *now, Row *before)
{
        Rates r = { -1, -1, -1 };
        double dt = before ? (double) (now->when - before->when) : 0;
        gint64 a, b;

        if (dt <= 0)
                return r;
        a = member_int(member_object(now->stats, "cgroup"), "cpu_usec", -1);
        b = member_int(member_object(before->stats, "cgroup"), "cpu_usec", -1);
        if (a >= 0 && b >= 0)
                r.cpu = 100.0 * (double) (a - b) / dt;
        r.monitor_cpu = 100.0 * (double) (monitor_cpu_usec(now->stats) - monitor_cpu_usec(before->stats)) / dt;
        r.log_rate = (double) (log_bytes(now->stats) - log_bytes(before->stats)) * G_USEC_PER_SEC / dt;
        return r;
}

static Row *find_row(GPtrArray *rows, const char *id)
{
        for (guint i = 0; rows && i < rows->len; i++)
                if (g_str_equal(((Row *) rows->pdata[i])->id, id))
                        return rows->pdata[i];
        return NULL;
}

static const char *const top_header[] = { "ID", "NAME", "STATE", "CPU%", "MEM", "PIDS", "LOG/s", "MON-CPU%",
                                          "MON-MEM" };

static char *percent(double v)
{
        return v < 0 ? g_strdup("-") : g_strdup_printf("%.1f%%", v);
}

static char **top_cells(Row *r, Row *before)
{
        JsonObject *cg = member_object(r->stats, "cgroup");
        Rates x = rates(r, before);
        char **row = g_new0(char *, G_N_ELEMENTS(top_header) + 1);
        g_autofree char *rate = x.log_rate < 0 ? NULL : human_bytes((gint64) x.log_rate);

        row[0] = short_id(r->id);
        row[1] = g_strdup(member_str(r->state, "name") ? member_str(r->state, "name") : "-");
        row[2] = g_strdup(member_str(r->state, "status") ? member_str(r->state, "status") : "?");
        row[3] = percent(x.cpu);
        row[4] = human_bytes(member_int(cg, "memory_bytes", -1));
        row[5] = int_or_dash(member_int(cg, "pids", -1));
        row[6] = g_strdup(rate ? rate : "-");
        row[7] = percent(x.monitor_cpu);
        row[8] = human_bytes(r->monitor_mem);
        return row;
}

static void add_rate(JsonBuilder *b, const char *key, double v)
{
        json_builder_set_member_name(b, key);
        if (v >= 0)
                json_builder_add_double_value(b, v);
        else
                json_builder_add_null_value(b);
}

static void top_json_add(JsonBuilder *b, Row *r, Row *before)
{
        JsonObject *cg = member_object(r->stats, "cgroup");
        Rates x = rates(r, before);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, r->id);
        add_str_or_null(b, "name", member_str(r->state, "name"));
        add_str_or_null(b, "status", member_str(r->state, "status"));
        add_rate(b, "cpu_percent", x.cpu);
        add_int_or_null(b, "memory_bytes", cg, "memory_bytes");
        add_int_or_null(b, "pids", cg, "pids");
        add_rate(b, "log_bytes_per_sec", x.log_rate);
        add_rate(b, "monitor_cpu_percent", x.monitor_cpu);
        json_builder_set_member_name(b, "monitor_memory_bytes");
        if (r->monitor_mem >= 0)
                json_builder_add_int_value(b, r->monitor_mem);
        else
                json_builder_add_null_value(b);
        json_builder_end_object(b);
}

static void print_top(const Ctl *ctl, GPtrArray *rows, GPtrArray *before)
{
        g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
        g_autoptr(GPtrArray) matched = g_ptr_array_new();

        for (guint i = 0; i < rows->len; i++)
                g_ptr_array_add(matched, find_row(before, ((Row *) rows->pdata[i])->id));
        if (ctl->json) {
                print_json_rows(rows, top_json_add, matched);
                return;
        }
        g_ptr_array_add(cells, g_strdupv((char **) top_header));
        for (guint i = 0; i < rows->len; i++)
                g_ptr_array_add(cells, top_cells(rows->pdata[i], matched->pdata[i]));
        print_table(cells, G_N_ELEMENTS(top_header));
}

int cmd_top(const Ctl *ctl)
{
        g_autoptr(GPtrArray) before = sample_all(ctl);

        for (;;) {
                g_autoptr(GPtrArray) now = NULL;
                /* The rates need two samples: even --no-stream waits one interval. */
                g_usleep((gulong) ctl->interval_ms * 1000);
                now = sample_all(ctl);
                if (!ctl->no_stream)
                        printf("\033[H\033[2J");
                print_top(ctl, now, before);
                fflush(stdout);
                if (ctl->no_stream)
                        return 0;
                g_ptr_array_unref(before);
                before = g_steal_pointer(&now);
        }
}
