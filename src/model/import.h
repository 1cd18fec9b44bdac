/* import.h — turning other libraries' model files into a kspec.
 *
 * Each importer parses bytes in memory (so fuzz targets can drive it) and returns a validated
 * spec, or an error naming what is wrong. None of them executes anything from the file;
 * scikit-learn pickles are only ever opened by the Python exporter (python/), whose JSON output
 * sklearn_import reads. */
#ifndef KILN_IMPORT_H
#define KILN_IMPORT_H

#include <stddef.h>

#include "model/spec.h"

typedef enum { KFMT_AUTO = 0, KFMT_XGBOOST, KFMT_LIGHTGBM, KFMT_SKLEARN, KFMT_KILN } kformat;

/* Parses a format name ("auto", "xgboost", "lightgbm", "sklearn"); returns -1 if unknown. */
int kformat_parse(const char *name);
const char *kformat_name(kformat f);

/* XGBoost JSON model (save_model("m.json"), 1.x-3.x). Caller frees *out with kspec_free. */
kstatus xgboost_import(const char *data, size_t len, kspec **out, kerr *e);

/* LightGBM text model (save_model("m.txt"), v3/v4). Caller frees *out with kspec_free. */
kstatus lightgbm_import(const char *data, size_t len, kspec **out, kerr *e);

/* The JSON document python/kiln_sklearn_export.py writes. Caller frees *out with kspec_free. */
kstatus sklearn_import(const char *data, size_t len, kspec **out, kerr *e);

/* Runs the scikit-learn exporter embedded in the binary (python/kiln_sklearn_export.py) on a
 * joblib/pickle file, with the interpreter named by KILN_PYTHON (default /usr/bin/python3).
 * Returns the exporter's JSON in a malloc'd, NUL-terminated buffer (caller frees) or an error
 * carrying the exporter's own message (e.g. the name of an unsupported estimator). */
kstatus sklearn_export(const char *path, char **json, size_t *len, kerr *e);

/* Imports the model file at `path`: detects the format from content when fmt is KFMT_AUTO,
 * runs the scikit-learn exporter for pickles, and records provenance metadata (source format,
 * framework and version, source sha256, import time, Kiln version). Caller frees *out. */
kstatus import_file(const char *path, kformat fmt, kspec **out, kerr *e);

#endif
