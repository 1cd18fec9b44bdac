/* process.c — process_* metrics from /proc/self/stat, /proc/self/fd and /proc/self/limits. */
#include "monitor/process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/metrics.h"

typedef struct {
    double utime, stime, start, vsize, rss;
} stat_fields;

/* Fields 14, 15 (ticks), 22 (ticks since boot), 23 (bytes), 24 (pages) of /proc/self/stat. */
static int read_stat(stat_fields *f)
{
    char text[2048];
    FILE *fp = fopen("/proc/self/stat", "r");
    if (!fp) return -1;
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = 0;
    char *p = strrchr(text, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    double v[25] = {0};
    p += 2; /* field 3 (state) starts here */
    for (int field = 3; field <= 24 && p && *p; field++) {
        v[field] = strtod(p, NULL);
        p = strchr(p, ' ');
        if (p) p++;
    }
    double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    f->utime = v[14] / tick;
    f->stime = v[15] / tick;
    f->start = v[22] / tick;
    f->vsize = v[23];
    f->rss = v[24] * page;
    return 0;
}

static double boot_time(void)
{
    FILE *fp = fopen("/proc/stat", "r");
    char line[256];
    double bt = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, "btime ", 6) == 0) bt = strtod(line + 6, NULL);
    if (fp) fclose(fp);
    return bt;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static double max_fds(void)
{
    FILE *fp = fopen("/proc/self/limits", "r");
    char line[256];
    double v = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, "Max open files", 14) == 0) v = strtod(line + 14, NULL);
    if (fp) fclose(fp);
    return v;
}

void process_metrics_write(buf *out)
{
    stat_fields f;
    if (read_stat(&f) == 0) {
        prom_family(out, "process_cpu_seconds_total", "counter",
                    "Total user and system CPU time spent in seconds.");
        prom_sample(out, "process_cpu_seconds_total", "", f.utime + f.stime);
        prom_family(out, "process_resident_memory_bytes", "gauge",
                    "Resident memory size in bytes.");
        prom_sample(out, "process_resident_memory_bytes", "", f.rss);
        prom_family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        prom_sample(out, "process_virtual_memory_bytes", "", f.vsize);
        prom_family(out, "process_start_time_seconds", "gauge",
                    "Start time of the process since unix epoch in seconds.");
        prom_sample(out, "process_start_time_seconds", "", boot_time() + f.start);
    }
    int fds = open_fds();
    if (fds >= 0) {
        prom_family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
        prom_sample(out, "process_open_fds", "", fds);
    }
    double max = max_fds();
    if (max > 0) {
        prom_family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        prom_sample(out, "process_max_fds", "", max);
    }
}
