/* fuzz_auth.c — libFuzzer target: the credential headers. Arbitrary bytes are presented as an
 * Authorization header and as X-API-Key to an authenticator with no keys and no JWT verifier
 * (authentication required): nothing may crash and nothing may authenticate. kkey_id_of and
 * kkey_allows_model see the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kauth *a;
    if (!a && kauth_start(NULL, NULL, 1, &a, NULL)) abort();
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    kauth_who who;
    kerr e = {0};
    if (kauth_check(a, text, NULL, 0, &who, &e) == K_OK) abort();
    if (kauth_check(a, NULL, text, 0, &who, &e) == K_OK) abort();
    if (!e.msg[0] || strlen(e.msg) >= KERR_MSG_MAX) abort();
    char id[KKEY_ID_LEN + 1];
    if (kkey_id_of(text, id) && strlen(id) != KKEY_ID_LEN) abort();
    kkey_allows_model(text, "demo");
    free(text);
    return 0;
}
