/* describe.h — a model spec's public face as JSON (json-c), shared by `kiln inspect`, the
 * registry's stored schema and the server's metadata, so they never disagree. */
#ifndef KILN_DESCRIBE_H
#define KILN_DESCRIBE_H

#include "model/spec.h"

struct json_object;

/* [{"name", "type": "numeric"|"categorical", "min"?, "max"?, "n_categories"?}, …] in schema
 * order. Caller owns the result (json_object_put). */
struct json_object *describe_features(const kspec *s);

#endif
