/* registry_open.c — what the registry commands share: the data directory and store options
 * (--home/KILN_HOME, --store/KILN_STORE, --artifacts/KILN_ARTIFACTS), the acting user, and
 * JSON output. */
#include <errno.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_reg_option(int c, const char *arg, cli_reg_opts *o)
{
    switch (c) {
    case CLI_OPT_HOME:
        o->home = arg;
        return 1;
    case CLI_OPT_STORE:
        o->store = arg;
        return 1;
    case CLI_OPT_ARTIFACTS:
        o->artifacts = arg;
        return 1;
    case CLI_OPT_JSON:
        o->json = 1;
        return 1;
    default:
        return 0;
    }
}

/* mkdir -p with mode 0700 for what Kiln creates (the registry will hold key hashes). */
static int make_dirs(const char *path)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s", path);
    if (n <= 0 || (size_t)n >= sizeof tmp) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

const char *cli_home(const cli_reg_opts *o, char *buf, size_t size)
{
    const char *home = o->home ? o->home : getenv("KILN_HOME");
    if (home && *home) return home;
    const char *user_home = getenv("HOME");
    snprintf(buf, size, "%s/.kiln", user_home && *user_home ? user_home : ".");
    return buf;
}

int cli_registry_location(const cli_reg_opts *o, cli_reg_location *loc)
{
    char home_buf[4096];
    const char *home = cli_home(o, home_buf, sizeof home_buf);
    const char *store = o->store ? o->store : getenv("KILN_STORE");
    const char *artifacts = o->artifacts ? o->artifacts : getenv("KILN_ARTIFACTS");
    kerr e = {0};
    if ((!store || !*store || !artifacts || !*artifacts) && make_dirs(home) != 0) {
        kerr_set(&e, K_IO, "cannot create the data directory %s: %s", home, strerror(errno));
        return cli_fail(&e);
    }
    if (store && *store)
        snprintf(loc->store, sizeof loc->store, "%s", store);
    else
        snprintf(loc->store, sizeof loc->store, "%s/registry.db", home);
    if (artifacts && *artifacts) {
        snprintf(loc->artifacts, sizeof loc->artifacts, "%s", artifacts);
        if (make_dirs(artifacts) != 0) {
            kerr_set(&e, K_IO, "cannot create the artifact directory %s: %s", artifacts,
                     strerror(errno));
            return cli_fail(&e);
        }
    } else {
        snprintf(loc->artifacts, sizeof loc->artifacts, "%s/artifacts", home);
    }
    loc->options =
        (kreg_options){.store = loc->store, .artifacts = loc->artifacts, .user = cli_user()};
    /* A PostgreSQL registry has no directory of its own: its audit log is mirrored into a
     * home named explicitly (an SQLite one mirrors next to its database file). */
    const char *named = o->home ? o->home : getenv("KILN_HOME");
    if (!strncmp(loc->store, "postgres", 8) && named && *named) {
        snprintf(loc->home, sizeof loc->home, "%s", named);
        loc->options.home = loc->home;
    }
    return EXIT_OK;
}

int cli_open_registry(const cli_reg_opts *o, kreg **out)
{
    cli_reg_location loc;
    int rc = cli_registry_location(o, &loc);
    if (rc) return rc;
    kerr e = {0};
    if (kreg_open(&loc.options, out, &e)) return cli_fail(&e);
    return EXIT_OK;
}

const char *cli_user(void)
{
    static char name[128];
    const char *u = getenv("KILN_USER");
    if (u && *u) return u;
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name)
        snprintf(name, sizeof name, "%s", pw->pw_name);
    else
        snprintf(name, sizeof name, "uid:%u", (unsigned)getuid());
    return name;
}

void cli_print_json(json_object *o)
{
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
}

const char *cli_jstr(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !v) return "";
    return json_object_get_string(v);
}
