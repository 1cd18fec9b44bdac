/* describe.c — JSON descriptions of a model spec. */
#include "model/describe.h"

#include <json-c/json.h>
#include <math.h>

static json_object *feature_json(const kfeature *f)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(f->name));
    json_object_object_add(
        o, "type",
        json_object_new_string(f->type == KFEAT_CATEGORICAL ? "categorical" : "numeric"));
    if (!isnan(f->min)) json_object_object_add(o, "min", json_object_new_double(f->min));
    if (!isnan(f->max)) json_object_object_add(o, "max", json_object_new_double(f->max));
    if (f->n_categories)
        json_object_object_add(o, "n_categories", json_object_new_int(f->n_categories));
    return o;
}

json_object *describe_features(const kspec *s)
{
    json_object *a = json_object_new_array();
    for (int32_t i = 0; i < s->n_features; i++)
        json_object_array_add(a, feature_json(&s->features[i]));
    return a;
}
