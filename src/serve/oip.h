/* oip.h — internal to the Open Inference Protocol handlers: the parsed form of an infer request
 * (oip_parse.c reads it, oip.c acts on it). Not a public header: only oip*.c include it.
 *
 * Everything a parsed request points to lives in the request arena given to oip__parse. */
#ifndef KILN_OIP_H
#define KILN_OIP_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/status.h"

#define OIP_MAX_RANK 4    /* shape dimensions accepted (we only need [N], [N,1], [N,F]) */
#define OIP_MAX_OUTPUTS 8 /* entries in a request's "outputs" array */
#define OIP_ID_MAX 256    /* bytes of a request "id" echoed back */
#define OIP_NAME_MAX 1024 /* bytes of a tensor or datatype name */

/* Tensor element types we accept (FP16 and BYTES are refused). */
#define OIP_DTYPE_MAP(X)                                                                           \
    X(BOOL, 1)                                                                                     \
    X(UINT8, 1)                                                                                    \
    X(UINT16, 2)                                                                                   \
    X(UINT32, 4)                                                                                   \
    X(UINT64, 8)                                                                                   \
    X(INT8, 1)                                                                                     \
    X(INT16, 2)                                                                                    \
    X(INT32, 4)                                                                                    \
    X(INT64, 8)                                                                                    \
    X(FP32, 4)                                                                                     \
    X(FP64, 8)

typedef enum {
#define OIP_DTYPE_ENUM(name, size) OIP_##name,
    OIP_DTYPE_MAP(OIP_DTYPE_ENUM)
#undef OIP_DTYPE_ENUM
        OIP__DTYPES
} oip_dtype;

/* One input tensor, its values decoded to doubles (NaN = missing) in row-major order. */
typedef struct {
    const char *name;
    int rank;
    int64_t shape[OIP_MAX_RANK];
    oip_dtype dtype;
    size_t count;   /* product of the shape */
    double *values; /* count values */
} oip_tensor;

/* An entry of the request's "outputs". binary: -1 unset (the request default applies). */
typedef struct {
    const char *name;
    int binary;
} oip_output_req;

typedef struct {
    const char *id; /* NULL when the request had none */
    oip_tensor *inputs;
    int n_inputs;
    int binary_output; /* request parameter binary_data_output */
    int has_outputs;   /* the request listed "outputs" (else every output is returned) */
    int n_outputs;
    oip_output_req outputs[OIP_MAX_OUTPUTS];
} oip_request;

/* Bounds on what a request may hold, from the model and the server limits. */
typedef struct {
    int max_inputs;    /* tensors in "inputs" */
    size_t max_values; /* values in one tensor (413 past it) */
    size_t max_rows;   /* for messages */
    int max_depth;     /* nesting of skipped values (server limit; 0: jsonpull's default) */
} oip_bounds;

/* Parses an infer request: body[0..json_len) is the JSON header and body[json_len..body_len)
 * the binary tensor data (empty without the binary extension). Every value is checked against
 * its tensor's datatype; binary inputs take their bytes in order and must use the binary part
 * exactly. Returns K_OK and *out (memory from `a`), or K_FORMAT (a bad request, 400) / K_LIMIT
 * (too large, 413) with a message in e. */
kstatus oip__parse(const char *body, size_t json_len, size_t body_len, const oip_bounds *b,
                   arena *a, oip_request *out, kerr *e);

/* The protocol name of a datatype ("FP64"). */
const char *oip__dtype_name(oip_dtype t);

#endif
