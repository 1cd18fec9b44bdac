/* openapi.c — GET /openapi.json: an OpenAPI 3 description of every endpoint the router serves
 * (router.c; tests/integration/test_serve.sh checks that the two agree). */
#include <string.h>

#include "serve/handlers.h"

#define ERR "{\"$ref\":\"#/components/responses/Error\"}"
#define JSON_BODY(schema) \
    "{\"required\":true,\"content\":{\"application/json\":{\"schema\":" schema "}}}"
#define OK_JSON(desc, schema) \
    "\"200\":{\"description\":\"" desc "\",\"content\":{\"application/json\":{\"schema\":" schema "}}}"
#define NAME_PARAM "{\"name\":\"name\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}"
#define VERSION_PARAM "{\"name\":\"version\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}"
#define ERRORS "\"400\":" ERR ",\"404\":" ERR ",\"413\":" ERR ",\"422\":" ERR ",\"503\":" ERR
#define GET_OP(summary, ok) "{\"get\":{\"summary\":\"" summary "\",\"responses\":{" ok "}}}"

#define PREDICT_REQ                                                                                \
    "{\"type\":\"object\",\"properties\":{\"features\":{\"oneOf\":[{\"type\":\"array\",\"items\":" \
    "{\"type\":[\"number\",\"null\"]}},{\"type\":\"object\",\"additionalProperties\":{\"type\":"   \
    "[\"number\",\"null\"]}}]},\"instances\":{\"type\":\"array\",\"items\":{}}}}"
#define INFER_REQ                                                                                  \
    "{\"type\":\"object\",\"required\":[\"inputs\"],\"properties\":{\"id\":{\"type\":\"string\"},"  \
    "\"parameters\":{\"type\":\"object\"},\"inputs\":{\"type\":\"array\",\"items\":{\"$ref\":"      \
    "\"#/components/schemas/Tensor\"}},\"outputs\":{\"type\":\"array\",\"items\":{\"type\":"        \
    "\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"parameters\":{\"type\":"           \
    "\"object\"}}}}}}"

static const char doc[] =
    "{\"openapi\":\"3.0.3\","
    "\"info\":{\"title\":\"Kiln model server\",\"version\":\"" KILN_VERSION "\","
    "\"description\":\"The seed's /predict and /health, Kiln's per-model prediction endpoint, and "
    "the Open Inference Protocol v2 (KServe, Triton, Seldon) with Triton's binary tensor and "
    "model-repository extensions. Errors are {\\\"error\\\": message}.\"},"
    "\"paths\":{"
    "\"/health\":" GET_OP("Liveness, as the seed's app answers", OK_JSON("healthy", "{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\",\"enum\":[\"healthy\"]}}}")) ","
    "\"/predict\":{\"post\":{\"summary\":\"The seed's endpoint: one row of features for the "
    "default model\",\"requestBody\":" JSON_BODY(PREDICT_REQ) ",\"responses\":{" OK_JSON(
        "prediction (class label as a number when numeric) and confidence (classifiers)",
        "{\"type\":\"object\",\"properties\":{\"prediction\":{},\"confidence\":{\"type\":\"number\"}}}") "," ERRORS "}}},"
    "\"/models/{name}/predict\":{\"post\":{\"summary\":\"One row (features) or a batch "
    "(instances) for a named model\",\"parameters\":[" NAME_PARAM "],\"requestBody\":" JSON_BODY(PREDICT_REQ) ",\"responses\":{" OK_JSON("predictions", "{\"$ref\":\"#/components/schemas/Predictions\"}") "," ERRORS "}}},"
    "\"/models/{name}/versions/{version}/predict\":{\"post\":{\"summary\":\"The same, only when "
    "that version is the one served\",\"parameters\":[" NAME_PARAM "," VERSION_PARAM "],\"requestBody\":" JSON_BODY(PREDICT_REQ) ",\"responses\":{" OK_JSON("predictions", "{\"$ref\":\"#/components/schemas/Predictions\"}") "," ERRORS "}}},"
    "\"/openapi.json\":" GET_OP("This document", OK_JSON("OpenAPI 3", "{\"type\":\"object\"}")) ","
    "\"/v2/health/live\":" GET_OP("OIP server liveness", OK_JSON("live", "{\"type\":\"object\"}")) ","
    "\"/v2/health/ready\":" GET_OP("OIP server readiness (503 while no model is loaded)", OK_JSON("ready", "{\"type\":\"object\"}") ",\"503\":" ERR) ","
    "\"/v2\":" GET_OP("OIP server metadata", OK_JSON("name, version, extensions", "{\"type\":\"object\"}")) ","
    "\"/v2/models/{name}\":{\"get\":{\"summary\":\"OIP model metadata\",\"parameters\":[" NAME_PARAM "],\"responses\":{" OK_JSON("inputs and outputs", "{\"type\":\"object\"}") ",\"404\":" ERR "}}},"
    "\"/v2/models/{name}/versions/{version}\":{\"get\":{\"summary\":\"OIP model version metadata\",\"parameters\":[" NAME_PARAM "," VERSION_PARAM "],\"responses\":{" OK_JSON("inputs and outputs", "{\"type\":\"object\"}") ",\"404\":" ERR "}}},"
    "\"/v2/models/{name}/ready\":{\"get\":{\"summary\":\"OIP model readiness\",\"parameters\":[" NAME_PARAM "],\"responses\":{" OK_JSON("ready", "{\"type\":\"object\"}") ",\"404\":" ERR "}}},"
    "\"/v2/models/{name}/versions/{version}/ready\":{\"get\":{\"summary\":\"OIP model version readiness\",\"parameters\":[" NAME_PARAM "," VERSION_PARAM "],\"responses\":{" OK_JSON("ready", "{\"type\":\"object\"}") ",\"404\":" ERR "}}},"
    "\"/v2/models/{name}/infer\":{\"post\":{\"summary\":\"OIP inference (JSON, or Triton binary "
    "tensors with Inference-Header-Content-Length)\",\"parameters\":[" NAME_PARAM "],\"requestBody\":" JSON_BODY(INFER_REQ) ",\"responses\":{" OK_JSON("outputs", "{\"type\":\"object\"}") "," ERRORS "}}},"
    "\"/v2/models/{name}/versions/{version}/infer\":{\"post\":{\"summary\":\"OIP inference on a "
    "version\",\"parameters\":[" NAME_PARAM "," VERSION_PARAM "],\"requestBody\":" JSON_BODY(INFER_REQ) ",\"responses\":{" OK_JSON("outputs", "{\"type\":\"object\"}") "," ERRORS "}}},"
    "\"/v2/repository/index\":{\"post\":{\"summary\":\"Model repository index (needs "
    "--allow-model-control)\",\"responses\":{" OK_JSON("models and states", "{\"type\":\"array\"}") ",\"403\":" ERR "}}},"
    "\"/v2/repository/models/{name}/load\":{\"post\":{\"summary\":\"Load or reload a model (needs "
    "--allow-model-control)\",\"parameters\":[" NAME_PARAM "],\"responses\":{" OK_JSON("loaded", "{\"type\":\"object\"}") ",\"403\":" ERR ",\"404\":" ERR "}}},"
    "\"/v2/repository/models/{name}/unload\":{\"post\":{\"summary\":\"Unload a model (needs "
    "--allow-model-control)\",\"parameters\":[" NAME_PARAM "],\"responses\":{" OK_JSON("unloaded", "{\"type\":\"object\"}") ",\"403\":" ERR ",\"404\":" ERR "}}}"
    "},"
    "\"components\":{"
    "\"responses\":{\"Error\":{\"description\":\"error\",\"content\":{\"application/json\":{\"schema\":"
    "{\"type\":\"object\",\"properties\":{\"error\":{\"type\":\"string\"}}}}}}},"
    "\"schemas\":{"
    "\"Predictions\":{\"type\":\"object\",\"properties\":{\"model\":{\"type\":\"string\"},"
    "\"version\":{\"type\":\"integer\"},\"prediction\":{},\"confidence\":{\"type\":\"number\"},"
    "\"probabilities\":{\"type\":\"array\"},\"predictions\":{\"type\":\"array\"}}},"
    "\"Tensor\":{\"type\":\"object\",\"required\":[\"name\",\"shape\",\"datatype\"],\"properties\":{"
    "\"name\":{\"type\":\"string\"},\"shape\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},"
    "\"datatype\":{\"type\":\"string\",\"enum\":[\"BOOL\",\"INT8\",\"INT16\",\"INT32\",\"INT64\","
    "\"UINT8\",\"UINT16\",\"UINT32\",\"UINT64\",\"FP32\",\"FP64\"]},\"parameters\":{\"type\":"
    "\"object\"},\"data\":{\"type\":\"array\"}}}"
    "}}}";

void h_openapi(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    buf_append(&r->body, doc, sizeof doc - 1);
}
