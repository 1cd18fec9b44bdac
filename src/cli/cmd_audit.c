/* cmd_audit.c — `kiln audit`: listing the hash-chained audit log and verifying that no record
 * was edited, deleted or reordered (store/audit.h). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/duration.h"
#include "cli/cli.h"
#include "store/audit.h"

void cmd_audit_help(void)
{
    printf("usage: kiln audit <subcommand> [options]\n\n"
           "The tamper-evident audit log: every registry write, key change, model load/unload\n"
           "and authentication failure, hash-chained, in the registry and in DIR/audit.jsonl.\n\n"
           "  list [--since WHEN] [--limit N]   records, oldest first; WHEN is a time\n"
           "                           (2026-11-24, 2026-11-24T08:00:00Z) or an age (30m, 1h,\n"
           "                           7d); --limit keeps the newest N\n"
           "  verify [--pin HASH]      check the chain: exit 0 and 'audit log intact: N\n"
           "                           records', or exit 1 naming the first bad record; with\n"
           "                           --pin, the record HASH (kept from 'head') must still\n"
           "                           be there, which catches the newest records removed\n"
           "                           from the database and the file alike\n"
           "  head                     the newest record's number and hash ('N HASH'): keep\n"
           "                           it outside this machine to pass to verify --pin\n\n"
           "Options of every subcommand:\n" CLI_REG_HELP "\nSee docs/audit.md.\n");
}

/* Milliseconds since the epoch for an ISO 8601 UTC time or date, or now minus an age;
 * -1 when `text` is neither. */
static int64_t parse_since(const char *text)
{
    struct tm tm = {0};
    int n = 0, ms = 0;
    if (sscanf(text, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) == 3 && n == 10) {
        const char *rest = text + n;
        int m = 0;
        if (*rest == 'T' &&
            sscanf(rest, "T%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &m) == 3) {
            rest += m;
            if (*rest == '.' && sscanf(rest, ".%3d%n", &ms, &m) == 1) rest += m;
            if (*rest == 'Z') rest++;
        }
        if (*rest) return -1;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        time_t t = timegm(&tm);
        return t < 0 ? -1 : (int64_t)t * 1000 + ms;
    }
    double age = duration_parse(text);
    if (age < 0) return -1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ms_now = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    return ms_now - (int64_t)(age * 1000.0);
}

static void print_records(json_object *list)
{
    printf("%-6s %-24s %-16s %-15s %-16s %-24s %-9s %s\n", "SEQ", "TIME (UTC)", "ACTOR", "ADDRESS",
           "ACTION", "OBJECT", "OUTCOME", "DETAIL");
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *o = json_object_array_get_idx(list, i);
        printf("%-6s %-24s %-16s %-15s %-16s %-24s %-9s %s\n", cli_jstr(o, "seq"),
               cli_jstr(o, "at"), cli_jstr(o, "actor"), cli_jstr(o, "address"),
               cli_jstr(o, "action"), cli_jstr(o, "object"), cli_jstr(o, "outcome"),
               cli_jstr(o, "detail"));
    }
    if (json_object_array_length(list) == 0) printf("(no audit records)\n");
}

static int audit_list(int argc, char **argv)
{
    enum { OPT_SINCE = 0x200, OPT_LIMIT };
    static const struct option opts[] = {CLI_REG_LONGOPTS,
                                         {"since", required_argument, 0, OPT_SINCE},
                                         {"limit", required_argument, 0, OPT_LIMIT},
                                         {0, 0, 0, 0}};
    cli_reg_opts o = {0};
    int64_t since = 0, limit = 0;
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == OPT_SINCE) {
            if ((since = parse_since(optarg)) < 0)
                return cli_usage("audit list", "--since wants a time or an age, got '%s'", optarg);
        } else if (c == OPT_LIMIT) {
            limit = strtoll(optarg, &end, 10);
            if (*end || limit <= 0)
                return cli_usage("audit list", "--limit wants a positive count, got '%s'", optarg);
        } else if (!cli_reg_option(c, optarg, &o)) {
            return cli_usage("audit list", "unknown option");
        }
    }
    if (optind < argc) return cli_usage("audit list", "unexpected argument '%s'", argv[optind]);
    kreg *r;
    int rc = cli_open_registry(&o, &r);
    if (rc) return rc;
    json_object *list;
    kerr e = {0};
    if (kaudit_list(r, since, limit, &list, &e)) rc = cli_fail(&e);
    kreg_close(r);
    if (rc) return rc;
    if (o.json)
        cli_print_json(list);
    else
        print_records(list);
    json_object_put(list);
    return EXIT_OK;
}

static void print_report_json(const kaudit_report *rep)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(rep->bad_seq == 0));
    json_object_object_add(o, "records", json_object_new_int64(rep->records));
    json_object_object_add(o, "head_hash", json_object_new_string(rep->head_hash));
    json_object_object_add(o, "file", rep->file[0] ? json_object_new_string(rep->file) : NULL);
    json_object_object_add(o, "file_records",
                           rep->file_records >= 0 ? json_object_new_int64(rep->file_records)
                                                  : NULL);
    if (rep->bad_seq) {
        json_object_object_add(o, "bad_seq", json_object_new_int64(rep->bad_seq));
        json_object_object_add(o, "where", json_object_new_string(rep->where));
        json_object_object_add(o, "message", json_object_new_string(rep->message));
    }
    cli_print_json(o);
    json_object_put(o);
}

static void print_report(const kaudit_report *rep)
{
    if (rep->bad_seq) {
        printf("audit log verification FAILED: %s\n", rep->message);
        return;
    }
    printf("audit log intact: %lld records\n", (long long)rep->records);
    printf("head hash: %s\n", rep->head_hash);
    if (rep->file_records >= 0)
        printf("mirror: %s (%lld records%s)\n", rep->file, (long long)rep->file_records,
               rep->file_records < rep->records ? ", catching up with the database" : "");
}

static int audit_verify(int argc, char **argv)
{
    enum { OPT_PIN = 0x200 };
    static const struct option opts[] = {
        CLI_REG_LONGOPTS, {"pin", required_argument, 0, OPT_PIN}, {0, 0, 0, 0}};
    cli_reg_opts o = {0};
    const char *pin = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == OPT_PIN) /* HASH, or the whole 'N HASH' line that 'head' prints */
            pin = strrchr(optarg, ' ') ? strrchr(optarg, ' ') + 1 : optarg;
        else if (!cli_reg_option(c, optarg, &o))
            return cli_usage("audit verify", "unknown option");
    }
    if (optind < argc) return cli_usage("audit verify", "unexpected argument '%s'", argv[optind]);
    kreg *r;
    int rc = cli_open_registry(&o, &r);
    if (rc) return rc;
    kaudit_report rep;
    kerr e = {0};
    if (kaudit_verify_pinned(r, pin, &rep, &e)) rc = cli_fail(&e);
    kreg_close(r);
    if (rc) return rc;
    if (o.json)
        print_report_json(&rep);
    else
        print_report(&rep);
    return rep.bad_seq ? EXIT_FAIL : EXIT_OK;
}

static int audit_head(int argc, char **argv)
{
    static const struct option opts[] = {CLI_REG_LONGOPTS, {0, 0, 0, 0}};
    cli_reg_opts o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!cli_reg_option(c, optarg, &o)) return cli_usage("audit head", "unknown option");
    if (optind < argc) return cli_usage("audit head", "unexpected argument '%s'", argv[optind]);
    kreg *r;
    int rc = cli_open_registry(&o, &r);
    if (rc) return rc;
    int64_t seq;
    char hash[SHA256_HEX_LEN];
    kerr e = {0};
    if (kaudit_head(r, &seq, hash, &e)) rc = cli_fail(&e);
    kreg_close(r);
    if (rc) return rc;
    if (o.json) {
        json_object *out = json_object_new_object();
        json_object_object_add(out, "seq", json_object_new_int64(seq));
        json_object_object_add(out, "hash", json_object_new_string(hash));
        cli_print_json(out);
        json_object_put(out);
    } else {
        printf("%lld %s\n", (long long)seq, hash);
    }
    return EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
    if (argc < 2) return cli_usage("audit", "missing subcommand (list, verify or head)");
    if (strcmp(argv[1], "list") == 0) return audit_list(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0) return audit_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "head") == 0) return audit_head(argc - 1, argv + 1);
    return cli_usage("audit", "unknown subcommand '%s'", argv[1]);
}
