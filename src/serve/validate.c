/* validate.c — the per-feature input policy (see validate.h). */
#include "serve/validate.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OVERRIDES 1024

typedef enum { A_FLAG = 0, A_CLIP, A_REJECT } action; /* missing: A_FLAG means allow */

typedef struct {
    action range, missing, categories;
} rule;

typedef struct {
    char *feature; /* owned */
    rule r;
} override;

struct kvalidate {
    rule dflt;
    override *over;
    int n_over;
};

void kvalidate_free(kvalidate *v)
{
    if (!v) return;
    for (int i = 0; i < v->n_over; i++)
        free(v->over[i].feature);
    free(v->over);
    free(v);
}

/* ---- configuration -------------------------------------------------------------------------- */

static kstatus parse_action(const char *path, const char *key, json_object *val, action *out,
                            kerr *e)
{
    const char *t = json_object_is_type(val, json_type_string) ? json_object_get_string(val) : "";
    int missing = !strcmp(key, "missing"), range = !strcmp(key, "range");
    if (!strcmp(t, missing ? "allow" : "flag"))
        *out = A_FLAG;
    else if (range && !strcmp(t, "clip"))
        *out = A_CLIP;
    else if (!strcmp(t, "reject"))
        *out = A_REJECT;
    else
        return kerr_set(e, K_INVALID, "%s.%s: expected %s", path, key,
                        missing ? "allow or reject"
                        : range ? "flag, clip or reject"
                                : "flag or reject");
    return K_OK;
}

/* range / missing / categories keys of one rule; `features` is handled by the caller. */
static kstatus parse_rule(const char *path, json_object *o, rule *r, int top, kerr *e)
{
    if (!json_object_is_type(o, json_type_object))
        return kerr_set(e, K_INVALID, "%s: expected a mapping (range, missing, categories)", path);
    json_object_object_foreach(o, key, val)
    {
        kstatus st;
        if (!strcmp(key, "range"))
            st = parse_action(path, key, val, &r->range, e);
        else if (!strcmp(key, "missing"))
            st = parse_action(path, key, val, &r->missing, e);
        else if (!strcmp(key, "categories"))
            st = parse_action(path, key, val, &r->categories, e);
        else if (top && !strcmp(key, "features"))
            st = K_OK;
        else
            st =
                kerr_set(e, K_INVALID, "%s.%s: unknown key (expected range, missing, categories%s)",
                         path, key, top ? ", features" : "");
        if (st) return st;
    }
    return K_OK;
}

static kstatus parse_features(kvalidate *v, json_object *f, kerr *e)
{
    if (!json_object_is_type(f, json_type_object))
        return kerr_set(e, K_INVALID, "validation.features: expected a mapping of feature: rule");
    int n = json_object_object_length(f);
    if (n > MAX_OVERRIDES)
        return kerr_set(e, K_LIMIT, "validation.features: at most %d features", MAX_OVERRIDES);
    v->over = calloc((size_t)n + 1, sizeof *v->over);
    if (!v->over) return kerr_set(e, K_NOMEM, "out of memory");
    json_object_object_foreach(f, name, val)
    {
        char path[200];
        snprintf(path, sizeof path, "validation.features.%.100s", name);
        override *o = &v->over[v->n_over];
        o->r = v->dflt;
        kstatus st = parse_rule(path, val, &o->r, 0, e);
        if (st) return st;
        if (!(o->feature = strdup(name))) return kerr_set(e, K_NOMEM, "out of memory");
        v->n_over++;
    }
    return K_OK;
}

kstatus kvalidate_new(const struct json_object *section, kvalidate **out, kerr *e)
{
    json_object *o = (json_object *)section, *f = NULL;
    kvalidate *v = calloc(1, sizeof *v);
    if (!v) return kerr_set(e, K_NOMEM, "out of memory");
    kstatus st = parse_rule("validation", o, &v->dflt, 1, e);
    if (!st && json_object_object_get_ex(o, "features", &f)) st = parse_features(v, f, e);
    if (st) {
        kvalidate_free(v);
        return st;
    }
    *out = v;
    return K_OK;
}

/* ---- checking rows -------------------------------------------------------------------------- */

static rule rule_for(const kvalidate *v, const char *feature)
{
    for (int i = 0; i < v->n_over; i++)
        if (!strcmp(v->over[i].feature, feature)) return v->over[i].r;
    return v->dflt;
}

static int unseen(const kfeature *f, double x)
{
    return f->type == KFEAT_CATEGORICAL && f->n_categories > 0 &&
           (x < 0 || x >= f->n_categories || x != floor(x));
}

static kstatus refuse(size_t row, size_t n, const kfeature *f, double x, const char *why, kerr *e)
{
    char where[48] = "";
    if (n > 1) snprintf(where, sizeof where, "row %zu: ", row);
    if (isnan(x))
        return kerr_set(e, K_RANGE, "%sfeature '%s' is missing (%s)", where, f->name, why);
    return kerr_set(e, K_RANGE, "%sfeature '%s' = %.10g %s", where, f->name, x, why);
}

/* Checks one value; *clip gets the value to use when it must be clipped. */
static kstatus check(const rule *r, const kfeature *f, double x, size_t row, size_t n, double *clip,
                     kerr *e)
{
    char why[96];
    if (isnan(x))
        return r->missing == A_REJECT ? refuse(row, n, f, x, "missing values are refused", e)
                                      : K_OK;
    if (r->categories == A_REJECT && unseen(f, x)) {
        snprintf(why, sizeof why, "is not a known category (0..%d)", (int)f->n_categories - 1);
        return refuse(row, n, f, x, why, e);
    }
    int low = !isnan(f->min) && x < f->min, high = !isnan(f->max) && x > f->max;
    if (!(low || high) || r->range == A_FLAG) return K_OK;
    if (r->range == A_REJECT) {
        snprintf(why, sizeof why, "is outside the training range [%.10g, %.10g]", f->min, f->max);
        return refuse(row, n, f, x, why, e);
    }
    *clip = low ? f->min : f->max;
    return K_OK;
}

kstatus kvalidate_rows(const kvalidate *v, const kspec *s, const double *rows, size_t n, arena *mem,
                       const double **out, kerr *e)
{
    *out = rows;
    double *copy = NULL;
    size_t nf = (size_t)s->n_features;
    for (size_t j = 0; j < nf; j++) {
        const kfeature *f = &s->features[j];
        rule r = rule_for(v, f->name);
        if (r.range == A_FLAG && r.missing == A_FLAG && r.categories == A_FLAG) continue;
        for (size_t i = 0; i < n; i++) {
            double x = rows[i * nf + j], clip = x;
            kstatus st = check(&r, f, x, i, n, &clip, e);
            if (st) return st;
            if (clip == x) continue;
            if (!copy && !(copy = arena_memdup(mem, rows, n * nf * sizeof *rows)))
                return kerr_set(e, K_LIMIT, "request too large for its memory budget");
            copy[i * nf + j] = clip;
        }
    }
    if (copy) *out = copy;
    return K_OK;
}
