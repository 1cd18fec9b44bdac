/* yaml.h — reads one YAML document (configuration files: model_config.yaml, kiln.yaml) into a
 * json-c object tree, so configuration code walks the same structures as JSON bodies.
 *
 * Built on libyaml's event parser; this module decides what the events mean:
 *   - mappings become objects, sequences arrays. Keys must be scalars and become the scalar's
 *     text as written ("1: x" has the key "1"); a key may only carry the !!str tag; a
 *     duplicate key is an error.
 *   - quoted ('...', "...") and block (|, >) scalars are strings. Plain scalars are resolved
 *     with the YAML 1.2 core schema: null, Null, NULL, ~ and the empty scalar are null;
 *     true/True/TRUE/false/False/FALSE are booleans; [-+]?[0-9]+, 0o[0-7]+ and 0x[0-9a-fA-F]+
 *     are int64 (K_RANGE beyond that range); [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?
 *     and [-+]?.inf / .nan (any of the three casings) are doubles (K_RANGE when a finite
 *     spelling overflows to infinity); anything else is a string. YAML 1.1 forms ("yes",
 *     "on", "1_000", "0755" as octal) are strings or decimals, as 1.2 says.
 *   - tags: none, the non-specific "!" (a string) and the standard !!str, !!int, !!float,
 *     !!bool, !!null, !!map, !!seq (the value must then parse as that type); any other tag is
 *     refused. Anchors (&a) and aliases (*a) are refused, so a small file cannot expand into a
 *     huge tree ("billion laughs"). Scalars may not contain NUL ("\0" escapes).
 *   - an input with no document, or whose document is empty or null, gives an empty object;
 *     a second document ("---" again) is refused.
 *
 * Limits (K_LIMIT): YAML_MAX_INPUT bytes of input, YAML_MAX_DEPTH nested collections,
 * YAML_MAX_NODES nodes (keys, values and collections all count), YAML_MAX_SCALAR bytes in one
 * scalar after decoding.
 *
 * Errors: K_FORMAT for malformed or refused input, K_LIMIT / K_RANGE as above, K_NOMEM; the
 * kerr holds one line "line L, column C: what" (1-based, from libyaml's problem mark or the
 * offending node's start; an oversized input has no position). Nothing is printed; no global
 * state. */
#ifndef KILN_YAML_H
#define KILN_YAML_H

#include <stddef.h>

#include <json-c/json.h>

#include "base/status.h"

#define YAML_MAX_INPUT ((size_t)1 << 20)   /* bytes of YAML text */
#define YAML_MAX_DEPTH 64                  /* nested mappings / sequences */
#define YAML_MAX_NODES 100000              /* scalars (keys included) and collections */
#define YAML_MAX_SCALAR ((size_t)64 << 10) /* bytes in one decoded scalar */

/* Parses text[0..len) (UTF-8, or UTF-16 with a byte order mark; need not be NUL-terminated)
 * as one YAML document. On success *out is the root (an object for ordinary configuration
 * files; a top-level sequence or scalar comes back as such) and the caller frees it with
 * json_object_put. On failure *out is untouched and `e` (may be NULL) says why. */
kstatus yaml_parse(const char *text, size_t len, struct json_object **out, kerr *e);

/* Reads the file at `path` (at most YAML_MAX_INPUT bytes) and parses it with yaml_parse;
 * error messages start with "<path>: ". Caller frees *out with json_object_put. */
kstatus yaml_load_file(const char *path, struct json_object **out, kerr *e);

#endif
