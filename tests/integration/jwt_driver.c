/* jwt_driver.c — test helper for test_jwt.sh (compiled by that script against the build's
 * libkilncore.a): builds a verifier from flags and checks tokens read from stdin, one per line,
 * printing one JSON object per token for jwt_cases.py.
 *
 *   jwt_driver --iss I --aud A --algs L (--key F | --jwks F) [--role-claim C] [--leeway S]
 *              --now T
 *
 * Output per token: {"ok":true,"sub":"...","role":"...","exp":N} or
 * {"ok":false,"status":"...","error":"..."}. A configuration the verifier refuses prints
 * {"config_error":"..."} and exits 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/num.h"
#include "serve/jwt.h"

#define LINE_MAX_BYTES (64 * 1024)

/* Prints s as a JSON string (the verifier's outputs are short ASCII, but be safe). */
static void put_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static double parse_num(const char *s)
{
    double v = 0;
    if (!num_parse_double(s, strlen(s), &v)) {
        fprintf(stderr, "not a number: %s\n", s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv, kjwt_config *c, double *now)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--iss"))
            c->issuer = v;
        else if (!strcmp(k, "--aud"))
            c->audience = v;
        else if (!strcmp(k, "--algs"))
            c->algorithms = v;
        else if (!strcmp(k, "--key"))
            c->key_file = v;
        else if (!strcmp(k, "--jwks"))
            c->jwks_file = v;
        else if (!strcmp(k, "--role-claim"))
            c->role_claim = v;
        else if (!strcmp(k, "--leeway"))
            c->leeway_s = parse_num(v);
        else if (!strcmp(k, "--now"))
            *now = parse_num(v);
        else {
            fprintf(stderr, "unknown flag %s\n", k);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    kjwt_config c;
    kjwt_config_default(&c);
    double now = 0;
    parse_args(argc, argv, &c, &now);
    kjwt *j = NULL;
    kerr e = {0};
    if (kjwt_new(&c, &j, &e) != K_OK) {
        printf("{\"config_error\":");
        put_str(e.msg);
        printf("}\n");
        return 3;
    }
    char *line = malloc(LINE_MAX_BYTES);
    while (line && fgets(line, LINE_MAX_BYTES, stdin)) {
        size_t len = strcspn(line, "\r\n");
        kjwt_claims cl;
        kerr ve = {0};
        kstatus st = kjwt_verify(j, line, len, now, &cl, &ve);
        if (st == K_OK) {
            printf("{\"ok\":true,\"sub\":");
            put_str(cl.subject);
            printf(",\"role\":");
            put_str(cl.role);
            printf(",\"exp\":%.17g}\n", cl.expires);
        } else {
            printf("{\"ok\":false,\"status\":\"%s\",\"error\":", kstatus_str(st));
            put_str(ve.msg);
            printf("}\n");
        }
        fflush(stdout);
    }
    free(line);
    kjwt_free(j);
    return 0;
}
