# Turns a text file (IN) into a C source (OUT) defining `const char *kiln_sklearn_exporter_py`
# and its length, so the binary carries the scikit-learn exporter script.
file(READ ${IN} HEX HEX)
string(LENGTH "${HEX}" HEXLEN)
math(EXPR LEN "${HEXLEN} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BYTES "${HEX}")
file(WRITE ${OUT} "/* generated from python/kiln_sklearn_export.py by cmake/embed.cmake */\n#include <stddef.h>\nstatic const unsigned char data[] = {${BYTES} 0x00};\nconst char *const kiln_sklearn_exporter_py = (const char *)data;\nconst size_t kiln_sklearn_exporter_py_len = ${LEN};\n")
