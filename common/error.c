/*  error.c: see error.h */
#include "common/error.h"

const char *assay_strerror(int err)
{
    switch (err) {
    case ASSAY_OK:
        return "success";
#define X(name, msg)                                                                               \
    case ASSAY_E##name:                                                                            \
        return msg;
        ASSAY_ERRNO_MAP(X)
#undef X
    default:
        return "unknown error";
    }
}

const char *assay_err_name(int err)
{
    switch (err) {
    case ASSAY_OK:
        return "OK";
#define X(name, msg)                                                                               \
    case ASSAY_E##name:                                                                            \
        return "E" #name;
        ASSAY_ERRNO_MAP(X)
#undef X
    default:
        return "EUNKNOWN";
    }
}
