/* cmd_sign.c — `kiln sign` (sign or verify a .kiln package) and `kiln keys signing-create`
 * (make an Ed25519 signing key pair); the library side is model/sign.h. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "model/package.h"
#include "model/sign.h"

void cmd_sign_help(void)
{
    printf(
        "usage: kiln sign FILE.kiln --key SIGNING.key [--out SIGNED.kiln]\n"
        "       kiln sign --verify FILE.kiln [--trusted-keys FILE|DIR]\n\n"
        "Signs a model package with an Ed25519 key (made by 'kiln keys signing-create'). The\n"
        "signature is appended to the package, which stays one file every kiln reads; signing\n"
        "again replaces it. The file is replaced atomically unless --out is given.\n"
        "--verify checks a package's signature against the trusted keys (default\n"
        "$KILN_TRUSTED_KEYS); without any, against the key the package names (integrity only).\n");
}

void cmd_keys_signing_create_help(void)
{
    printf("usage: kiln keys signing-create --out SIGNING.key [--force]\n\n"
           "Creates an Ed25519 signing key: the secret key goes to SIGNING.key (mode 0600; keep\n"
           "it offline or in a secret store), the public key to SIGNING.key.pub, which is what\n"
           "servers and registries trust (the trusted_keys setting).\n");
}

static int sign_file(const char *file, const char *key_path, const char *out)
{
    kerr e = {0};
    ksign_key *k = NULL;
    char *data = NULL;
    size_t len;
    buf b;
    buf_init(&b, KPKG_MAX_SIZE + KPKG_SIG_SIZE);
    kstatus st = ksign_key_load(key_path, &k, &e);
    if (!st) st = fs_read_all(file, KPKG_MAX_SIZE + KPKG_SIG_SIZE, &data, &len, &e);
    kspec *spec = NULL;
    if (!st) st = kpkg_read(data, len, &spec, &e); /* refuse to sign a broken package */
    kspec_free(spec);
    if (!st) st = ksign_sign(k, data, len, &b, &e);
    if (!st) st = fs_write_atomic(out ? out : file, b.data, b.len, &e);
    if (!st) printf("signed %s with key %s\n", out ? out : file, ksign_key_id(k));
    ksign_key_free(k);
    free(data);
    buf_free(&b);
    if (st) kerr_prefix(&e, "%s", file);
    return st ? cli_fail(&e) : EXIT_OK;
}

static int verify_file(const char *file, const char *trusted)
{
    kerr e = {0};
    ksign_trust *t = NULL;
    char *data = NULL, id[KSIGN_ID_HEX];
    size_t len;
    int is_signed = 0;
    kstatus st = ksign_trust_new(&t, &e);
    if (!st && trusted && *trusted) st = ksign_trust_load(t, trusted, &e);
    if (!st) st = fs_read_all(file, KPKG_MAX_SIZE + KPKG_SIG_SIZE, &data, &len, &e);
    if (!st) st = ksign_inspect(data, len, &is_signed, id, &e);
    if (!st) st = ksign_check(t, !is_signed, data, len, &e); /* no keys: integrity only */
    if (!st)
        printf("%s: signed by key %s: the signature verifies%s\n", file, id,
               ksign_trust_count(t) ? " with a trusted key" : " (no trusted keys given)");
    ksign_trust_free(t);
    free(data);
    if (st) kerr_prefix(&e, "%s", file);
    return st ? cli_fail(&e) : EXIT_OK;
}

int cmd_sign(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, 0, 'k'},
                                         {"out", required_argument, 0, 'o'},
                                         {"verify", no_argument, 0, 'v'},
                                         {"trusted-keys", required_argument, 0, 't'},
                                         {0, 0, 0, 0}};
    const char *key = NULL, *out = NULL, *trusted = getenv("KILN_TRUSTED_KEYS");
    int verify = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:o:", opts, NULL)) != -1) {
        if (c == 'k')
            key = optarg;
        else if (c == 'o')
            out = optarg;
        else if (c == 'v')
            verify = 1;
        else if (c == 't')
            trusted = optarg;
        else
            return cli_usage("sign", "unknown option");
    }
    if (optind != argc - 1) return cli_usage("sign", "expected exactly one package file");
    if (verify) return verify_file(argv[optind], trusted);
    if (!key)
        return cli_usage("sign", "--key is required (make one with 'kiln keys "
                                 "signing-create')");
    return sign_file(argv[optind], key, out);
}

int cmd_keys_signing_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'}, {"force", no_argument, 0, 'f'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:f", opts, NULL)) != -1) {
        if (c == 'o')
            out = optarg;
        else if (c == 'f')
            force = 1;
        else
            return cli_usage("keys signing-create", "unknown option");
    }
    if (!out || optind != argc) return cli_usage("keys signing-create", "expected --out FILE");
    kerr e = {0};
    ksign_key *k = NULL;
    char pub[KSIGN_PUBLIC_MAX];
    kstatus st = ksign_key_generate(&k, &e);
    if (!st) st = ksign_key_save(k, out, force, &e);
    if (!st) {
        ksign_key_public(k, pub);
        printf("created signing key %s\nsecret key: %s (keep it secret)\npublic key: %s.pub\n%s\n",
               ksign_key_id(k), out, out, pub);
    }
    ksign_key_free(k);
    return st ? cli_fail(&e) : EXIT_OK;
}
