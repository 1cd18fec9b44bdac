/* fuzz_yaml.c — libFuzzer target: the YAML reader on arbitrary bytes. Whatever it accepts must
 * respect its own limits (depth, node count, scalar size, no NUL in strings) and serialise as
 * JSON; whatever it refuses must say why in one line and leave the output alone. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/yaml.h"

/* Walks the tree, aborting on anything yaml_parse promises never to return. */
static void walk(struct json_object *o, int depth, size_t *nodes)
{
    if (depth > YAML_MAX_DEPTH || ++*nodes > YAML_MAX_NODES) abort();
    if (json_object_is_type(o, json_type_string)) {
        size_t n = (size_t)json_object_get_string_len(o);
        if (n > YAML_MAX_SCALAR || strlen(json_object_get_string(o)) != n) abort();
    } else if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            walk(json_object_array_get_idx(o, i), depth + 1, nodes);
    } else if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, key, val)
        {
            ++*nodes; /* the key */
            if (strlen(key) > YAML_MAX_SCALAR) abort();
            walk(val, depth + 1, nodes);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_object *sentinel = (struct json_object *)&sentinel, *o = sentinel;
    kerr e = {0};
    kstatus st = yaml_parse((const char *)data, size, &o, &e);
    if (st) {
        if (o != sentinel || e.msg[0] == 0 || strchr(e.msg, '\n')) abort();
        return 0;
    }
    if (!o || o == sentinel) abort(); /* an empty document is an empty object, never NULL */
    size_t nodes = 0;
    walk(o, 0, &nodes);
    if (!json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) abort();
    json_object_put(o);
    return 0;
}
