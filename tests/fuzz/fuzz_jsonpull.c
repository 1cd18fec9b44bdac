/* fuzz_jsonpull.c — libFuzzer target: the JSON pull parser on arbitrary bytes, walking every
 * value (keeping every string, reading every number, counting every array) as a caller would.
 * A well-formed array must hold exactly the elements counted, and messages stay one line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/jsonpull.h"

/* Walks one value; bounds its own recursion as any caller walking structure must. */
static kstatus walk(jsonpull *r, arena *a, int depth)
{
    if (depth > JSONPULL_MAX_DEPTH) return jsonpull_skip(r);
    int c = jsonpull_peek(r), first = 1, more;
    kstatus st;
    if (c == '{') {
        char key[JSONPULL_KEY_MAX];
        st = jsonpull_expect(r, '{', "expected an object");
        while (!st && !(st = jsonpull_member(r, &first, key, &more)) && more) {
            if (strlen(key) >= JSONPULL_KEY_MAX) abort();
            /* alternate between walking and skipping so both paths see every shape */
            st = key[0] == 's' ? jsonpull_skip(r) : walk(r, a, depth + 1);
        }
        return st;
    }
    if (c == '[') {
        int64_t count = 0, seen = 0;
        st = jsonpull_array_begin(r, &count);
        while (!st && !(st = jsonpull_element(r, &first, &more)) && more) {
            seen++; /* may pass count on malformed input, which must then fail */
            st = walk(r, a, depth + 1);
        }
        if (!st && seen != count) abort(); /* exact for every well-formed array */
        return st;
    }
    if (c == '"') {
        const char *s = NULL;
        return jsonpull_string(r, a, &s, 1 << 16);
    }
    if (c == 't' || c == 'f' || c == 'n')
        return jsonpull_literal(r, c == 't' ? "true" : c == 'f' ? "false" : "null");
    jsonpull_num v = {0};
    return jsonpull_number(r, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena *a = arena_new((size_t)1 << 26);
    if (!a) return 0;
    jsonpull r;
    kerr e = {0};
    jsonpull_init(&r, (const char *)data, size, "fuzz: ", &e);
    jsonpull_skip_bom(&r);
    kstatus st = walk(&r, a, 0);
    if (!st) st = jsonpull_finish(&r);
    if (st && (e.msg[0] == 0 || strchr(e.msg, '\n'))) abort();
    if (jsonpull_offset(&r) > size) abort();
    arena_free(a);
    return 0;
}
