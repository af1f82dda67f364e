/* The walk of trailbeam.storescan in C: where each field of each encoded TrailEvent starts.
 *
 * Optional speed-up: trailbeam/storescan.py holds the same walk in Python (_locate) and uses it when this
 * extension is not built. tests/unit/test_storescan.py runs every test on both and compares them.
 *
 * locate(records: bytes, count: int) -> bytes: 17 native int64 values per record, in the order of
 * storescan's _START .. _END, then the eventTime, then where cloudTrailEvent starts. Every read is bounds-checked: a record that runs past the data raises
 * ValueError, never reads outside the buffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define WIDTH 17

typedef struct {
    const unsigned char *data;
    Py_ssize_t size;
    Py_ssize_t pos;
    int failed;
} Cursor;

/* An Avro long (zigzag varint). */
static int64_t read_long(Cursor *c) {
    uint64_t value = 0;
    int shift = 0;
    for (;;) {
        if (c->pos >= c->size || shift > 63) {
            c->failed = 1;
            return 0;
        }
        unsigned char byte = c->data[c->pos++];
        value |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            break;
        }
        shift += 7;
    }
    return (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
}

static void advance(Cursor *c, int64_t length) {
    if (length < 0 || length > c->size - c->pos) {
        c->failed = 1;
        return;
    }
    c->pos += (Py_ssize_t)length;
}

static void skip_string(Cursor *c) {
    int64_t length = read_long(c);
    if (!c->failed) {
        advance(c, length);
    }
}

/* ["null", string] (or bytes). */
static void skip_optionals(Cursor *c, int64_t count) {
    for (int64_t i = 0; i < count && !c->failed; i++) {
        int64_t branch = read_long(c);
        if (c->failed) {
            return;
        }
        if (branch == 1) {
            skip_string(c);
        } else if (branch != 0) {
            c->failed = 1;
        }
    }
}

/* ["null", boolean]. */
static void skip_optional_boolean(Cursor *c) {
    int64_t branch = read_long(c);
    if (branch == 1 && !c->failed) {
        advance(c, 1);
    } else if (branch != 0) {
        c->failed = 1;
    }
}

/* ["null", long]. */
static void skip_optional_long(Cursor *c) {
    int64_t branch = read_long(c);
    if (branch == 1 && !c->failed) {
        read_long(c);
    } else if (branch != 0) {
        c->failed = 1;
    }
}

static PyObject *locate(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "y*n", &view, &count)) {
        return NULL;
    }
    if (count < 0 || count > PY_SSIZE_T_MAX / (WIDTH * (Py_ssize_t)sizeof(int64_t))) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "bad record count");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, count * WIDTH * (Py_ssize_t)sizeof(int64_t));
    if (result == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int64_t *out = (int64_t *)PyBytes_AS_STRING(result);
    Cursor c = {(const unsigned char *)view.buf, view.len, 0, 0};
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < count && !c.failed; r++) {
        int64_t *at = out + r * WIDTH;
        at[0] = c.pos;                                   /* start */
        at[15] = read_long(&c);                          /* eventTime */
        int64_t id_size = read_long(&c);
        at[1] = c.pos;                                   /* eventID text */
        if (!c.failed) advance(&c, id_size);
        at[2] = c.pos;                                   /* eventName */
        skip_optionals(&c, 2);                           /* eventName, eventSource */
        at[3] = c.pos;
        skip_optionals(&c, 3);                           /* eventType, eventCategory, eventVersion */
        at[4] = c.pos;                                   /* awsRegion */
        skip_optionals(&c, 1);
        at[5] = c.pos;                                   /* recipientAccountId */
        skip_optionals(&c, 1);
        at[6] = c.pos;                                   /* readOnly */
        skip_optional_boolean(&c);
        skip_optional_boolean(&c);                       /* managementEvent */
        at[7] = c.pos;                                   /* errorCode */
        skip_optionals(&c, 1);
        at[8] = c.pos;
        skip_optionals(&c, 1);                           /* errorMessage */
        at[9] = c.pos;                                   /* sourceIPAddress */
        skip_optionals(&c, 2);                           /* sourceIPAddress, userAgent */
        at[10] = c.pos;
        skip_optionals(&c, 3);                           /* requestID, sharedEventID, vpcEndpointId */
        skip_optional_boolean(&c);                       /* sessionCredentialFromConsole */
        at[11] = c.pos;                                  /* userIdentity */
        skip_optionals(&c, 6);                           /* type … userName */
        at[12] = c.pos;
        skip_optionals(&c, 2);                           /* invokedBy, sourceIdentity */
        skip_optional_boolean(&c);                       /* mfaAuthenticated */
        skip_optional_long(&c);                          /* sessionCreationDate */
        skip_optionals(&c, 9);                           /* sessionIssuer (5), web identity, onBehalfOf (2),
                                                            credentialId */
        at[13] = c.pos;
        for (;;) {                                       /* resources: blocks of (arn, type, accountId) */
            if (c.failed) break;
            int64_t items = read_long(&c);
            if (c.failed || items == 0) break;
            if (items < 0) {
                items = -items;
                read_long(&c);                           /* the block's byte size */
            }
            if (items > c.size) {
                c.failed = 1;
                break;
            }
            skip_optionals(&c, items * 3);
        }
        skip_string(&c);                                 /* source: uri */
        skip_string(&c);                                 /* sha256 */
        skip_string(&c);                                 /* contentSha256 */
        read_long(&c);                                   /* position */
        skip_string(&c);                                 /* shape */
        skip_optionals(&c, 1);                           /* wrapper */
        skip_string(&c);                                 /* ingestRun */
        read_long(&c);                                   /* copies */
        advance(&c, 1);                                  /* conflict */
        at[16] = c.pos;                                  /* cloudTrailEvent */
        skip_string(&c);
        at[14] = c.pos;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (c.failed) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_ValueError, "not a file of trailbeam.TrailEvent records (the walk ran past the data)");
        return NULL;
    }
    return result;
}

static PyMethodDef methods[] = {
    {"locate", locate, METH_VARARGS, "locate(records, count) -> 17 int64 values (offsets, eventTime) per encoded TrailEvent."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_storescan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__storescan(void) { return PyModule_Create(&module); }
