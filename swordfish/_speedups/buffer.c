/* Output buffer, error helpers, decoded-object construction and encode-side value conversions
 * shared by the binary and compact codecs.
 *
 * Value conversions accept exactly what the Python codecs accept: their fast paths (exact
 * int/float/str/bytes/list/dict) are done here in C, anything unusual is handed to the same
 * Python helper the pure-Python codec uses (as_binary, as_sequence, as_items, as_uuid_bytes),
 * so odd inputs (memoryviews, str subclasses, custom iterables, mappings) behave identically.
 */
#include "speedups.h"
#include <stdarg.h>

/* ---- errors ------------------------------------------------------------------------------- */

int sf_trunc(DCtx *c) {
    if (!c->trunc) {
        c->trunc = 1;
        c->needed = -1;
    }
    return -1;
}

int sf_trunc_msg(DCtx *c, Py_ssize_t needed, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->tmsg, sizeof(c->tmsg), fmt, ap);
    va_end(ap);
    c->trunc = 2;
    c->needed = needed;
    return -1;
}

static int raise_fmt(PyObject *cls, const char *fmt, va_list ap) {
    char msg[400];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    PyErr_SetString(cls, msg);
    return -1;
}

int sf_remote(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    raise_fmt(sf_RemoteProtocolError, fmt, ap);
    va_end(ap);
    return -1;
}

int sf_limit(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    raise_fmt(sf_LimitExceeded, fmt, ap);
    va_end(ap);
    return -1;
}

int sf_bad_value(const char *what) {
    PyErr_SetString(PyExc_ValueError, what);
    return -1;
}

/* Recursion guard for nested structs/containers (decode and encode). */
int sf_enter(long depth) {
    if (depth > SF_HARD_DEPTH) {
        PyErr_SetString(PyExc_RecursionError, "maximum nesting depth exceeded");
        return -1;
    }
    return Py_EnterRecursiveCall(" in swordfish codec") ? -1 : 0;
}

/* Encoding carries no depth argument; count nesting per thread instead, so a cyclic value
 * cannot overflow the C stack even under a huge sys.setrecursionlimit(). */
static _Thread_local int encode_depth;

int sf_enter_encode(void) {
    if (encode_depth >= SF_HARD_DEPTH) {
        PyErr_SetString(PyExc_RecursionError, "maximum nesting depth exceeded");
        return -1;
    }
    if (Py_EnterRecursiveCall(" in swordfish codec"))
        return -1;
    encode_depth++;
    return 0;
}

void sf_leave_encode(void) {
    encode_depth--;
    Py_LeaveRecursiveCall();
}

static const char *const TT_NAMES[] = {
    "STOP", "VOID", "BOOL", "BYTE", "DOUBLE", NULL, "I16", NULL, "I32", NULL, "I64",
    "STRING", "STRUCT", "MAP", "SET", "LIST", "UUID",
};
static const char *const CT_NAMES[] = {
    "STOP", "BOOLEAN_TRUE", "BOOLEAN_FALSE", "BYTE", "I16", "I32", "I64", "DOUBLE",
    "BINARY", "LIST", "SET", "MAP", "STRUCT", "UUID",
};

const char *sf_ttype_name(int t, char *tmp) {
    if (t >= 0 && t <= 16 && TT_NAMES[t])
        return TT_NAMES[t];
    snprintf(tmp, 16, "%d", t);
    return tmp;
}

const char *sf_ctype_name(int t, char *tmp) {
    if (t >= 0 && t <= 13)
        return CT_NAMES[t];
    snprintf(tmp, 16, "%d", t);
    return tmp;
}

/* ---- decoding helpers -------------------------------------------------------------------- */

static int all_ascii(const unsigned char *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL)
            return 0;
    }
    for (; i < n; i++)
        if (p[i] & 0x80)
            return 0;
    return 1;
}

/* str (strict UTF-8, ASCII fast path) or bytes of n bytes at p. */
PyObject *sf_decode_text(DCtx *c, const unsigned char *p, Py_ssize_t n, int binary) {
    if (binary)
        return PyBytes_FromStringAndSize((const char *)p, n);
    if (all_ascii(p, n)) {
        PyObject *s = PyUnicode_New(n, 127);
        if (s == NULL)
            return NULL;
        memcpy(PyUnicode_DATA(s), p, (size_t)n);
        return s;
    }
    PyObject *s = PyUnicode_DecodeUTF8((const char *)p, n, NULL);
    if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        c->utf8_err = 1;
    }
    return s;
}

PyObject *sf_make_uuid(const unsigned char *p) {
    PyObject *uuid_cls = sf_helper("uuid", "UUID");
    if (uuid_cls == NULL)
        return NULL;
    PyObject *b = PyBytes_FromStringAndSize((const char *)p, 16);
    if (b == NULL)
        return NULL;
    PyObject *kw = Py_BuildValue("{s:N}", "bytes", b);
    if (kw == NULL)
        return NULL;
    PyObject *u = PyObject_Call(uuid_cls, sf_empty_tuple, kw);
    Py_DECREF(kw);
    return u;
}

PyObject *sf_empty_container(int kind) {
    switch (kind) {
    case K_LIST: return PyList_New(0);
    case K_TUPLE: return PyTuple_New(0);
    case K_SET: return PySet_New(NULL);
    default: return PyFrozenSet_New(NULL);
    }
}

/* A filled list -> the container kind (steals `list`). */
PyObject *sf_pack_container(int kind, PyObject *list) {
    PyObject *r;
    switch (kind) {
    case K_LIST: return list;
    case K_TUPLE: r = PyList_AsTuple(list); break;
    case K_SET: r = PySet_New(list); break;
    default: r = PyFrozenSet_New(list); break;
    }
    Py_DECREF(list);
    return r;
}

/* Create the decoded instance: IDL defaults for absent fields (a deep copy when mutable),
 * every slot filled, no __init__ (what the Python codec's generated reader does). Consumes
 * the references in vals[] on success and failure. */
PyObject *sf_finish_struct(StructPlan *p, PyObject **vals) {
    Py_ssize_t n = p->nfields;
    PyObject *obj = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        FieldInfo *f = &p->fields[i];
        if (vals[i] == NULL && f->dflt != NULL) {
            if (f->dflt_mutable) {
                PyObject *deepcopy = sf_helper("copy", "deepcopy");
                if (deepcopy == NULL)
                    goto fail;
                vals[i] = PyObject_CallOneArg(deepcopy, f->dflt);
                if (vals[i] == NULL)
                    goto fail;
            } else {
                Py_INCREF(f->dflt);
                vals[i] = f->dflt;
            }
        }
    }
    PyTypeObject *tp = p->cls;
    /* Checked on every call, not cached in the plan: __new__ can be assigned later, and
     * object.__new__ refuses abstract classes (Python's cls.__new__(cls) does too). */
    if (tp->tp_new == PyBaseObject_Type.tp_new && !(tp->tp_flags & Py_TPFLAGS_IS_ABSTRACT))
        obj = tp->tp_alloc(tp, 0);
    else
        obj = tp->tp_new(tp, sf_empty_tuple, NULL);
    if (obj == NULL)
        goto fail;
    /* A user __new__ may return anything: the slot offsets are only valid for tp itself;
     * any other object gets plain attribute assignment, as in the Python codec. */
    const int direct = Py_TYPE(obj) == tp;
    for (Py_ssize_t i = 0; i < n; i++) {
        FieldInfo *f = &p->fields[i];
        PyObject *v = vals[i];
        vals[i] = NULL;
        if (v == NULL) {
            v = Py_None;
            Py_INCREF(v);
        }
        if (direct && f->offset > 0) {
            PyObject **slot = (PyObject **)((char *)obj + f->offset);
            PyObject *old = *slot;
            *slot = v;
            Py_XDECREF(old);
        } else {
            int r = direct ? PyObject_GenericSetAttr(obj, f->name, v)
                           : PyObject_SetAttr(obj, f->name, v);
            Py_DECREF(v);
            if (r < 0) {
                for (Py_ssize_t j = i + 1; j < n; j++)
                    Py_CLEAR(vals[j]);
                Py_DECREF(obj);
                return NULL;
            }
        }
    }
    return obj;
fail:
    for (Py_ssize_t i = 0; i < n; i++)
        Py_CLEAR(vals[i]);
    return NULL;
}

/* Message name of n bytes at c->pos: Python's read_name(). */
int sf_read_name(DCtx *c, long long n, int decode, PyObject **name) {
    if (n < 0 || n > SF_MAX_I32)
        return sf_remote("negative message name length %lld", n);
    if (n > c->max_string)
        return sf_limit("message name of %lld bytes exceeds max_string_size=%zd", n,
                        c->max_string);
    Py_ssize_t end = c->pos + (Py_ssize_t)n;
    if (end > c->len)
        return sf_trunc_msg(c, end, "message name of %lld bytes", n);
    if (decode) {
        PyObject *s = PyUnicode_DecodeUTF8((const char *)c->buf + c->pos, (Py_ssize_t)n, NULL);
        if (s == NULL) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                PyErr_Clear();
                return sf_remote("invalid UTF-8 in message name");
            }
            return -1;
        }
        *name = s;
    }
    c->pos = end;
    return 0;
}

/* ---- output buffer ------------------------------------------------------------------------ */

int sf_grow(OutBuf *b, Py_ssize_t extra) {
    Py_ssize_t need = b->len + extra;
    if (need < b->len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t cap = b->cap * 2;
    if (cap < need)
        cap = need;
    char *d = PyMem_Realloc(b->data, (size_t)cap);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

/* ---- encode-side conversions ------------------------------------------------------------- */

static PyObject *call_helper(const char *name, PyObject *v, int text) {
    PyObject *fn = sf_helper("swordfish.codec._common", name);
    if (fn == NULL)
        return NULL;
    if (text < 0)
        return PyObject_CallOneArg(fn, v);
    PyObject *kw = Py_BuildValue("{s:O}", "text", text ? Py_True : Py_False);
    if (kw == NULL)
        return NULL;
    PyObject *args = PyTuple_Pack(1, v);
    if (args == NULL) {
        Py_DECREF(kw);
        return NULL;
    }
    PyObject *r = PyObject_Call(fn, args, kw);
    Py_DECREF(args);
    Py_DECREF(kw);
    return r;
}

int sf_bytes_view(PyObject *v, int text, BytesView *bv) {
    bv->owner = NULL;
    if (PyBytes_CheckExact(v)) {
        bv->p = PyBytes_AS_STRING(v);
        bv->n = PyBytes_GET_SIZE(v);
        return 0;
    }
    if (text && PyUnicode_CheckExact(v)) {
        if (PyUnicode_IS_ASCII(v)) {
            bv->p = (const char *)PyUnicode_DATA(v);
            bv->n = PyUnicode_GET_LENGTH(v);
            return 0;
        }
        bv->owner = PyUnicode_AsUTF8String(v);
        if (bv->owner == NULL)
            return -1;
    } else {
        bv->owner = call_helper("as_binary", v, text);
        if (bv->owner == NULL)
            return -1;
    }
    if (PyBytes_Check(bv->owner)) {
        bv->p = PyBytes_AS_STRING(bv->owner);
        bv->n = PyBytes_GET_SIZE(bv->owner);
    } else if (PyByteArray_Check(bv->owner)) {
        bv->p = PyByteArray_AS_STRING(bv->owner);
        bv->n = PyByteArray_GET_SIZE(bv->owner);
    } else {
        Py_CLEAR(bv->owner);
        PyErr_SetString(PyExc_TypeError, "as_binary returned neither bytes nor bytearray");
        return -1;
    }
    return 0;
}

/* An integer in [lo, hi]: ints and objects with __index__, as struct.pack and
 * operator.index accept them (bool included, float refused). */
int sf_as_int(PyObject *v, long long lo, long long hi, long long *out) {
    int overflow;
    long long x;
    if (PyLong_Check(v)) {
        x = PyLong_AsLongLongAndOverflow(v, &overflow);
    } else {
        PyObject *i = PyNumber_Index(v);
        if (i == NULL)
            return -1;
        x = PyLong_AsLongLongAndOverflow(i, &overflow);
        Py_DECREF(i);
    }
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (overflow || x < lo || x > hi)
        return sf_bad_value("out of range");
    *out = x;
    return 0;
}

/* The Python codecs look bools up in {True: ..., False: ...}: anything equal to 1 or 0 with
 * the same hash (1, 0, 1.0, ...) is accepted, anything else is a KeyError/TypeError. */
int sf_as_bool(PyObject *v) {
    if (v == Py_True)
        return 1;
    if (v == Py_False)
        return 0;
    PyObject *r = PyDict_GetItemWithError(sf_bool_ints, v);
    if (r == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, v);
        return -1;
    }
    return r == Py_True ? 1 : PyLong_AsLong(r);
}

int sf_as_double(PyObject *v, double *out) {
    if (PyFloat_CheckExact(v)) {
        *out = PyFloat_AS_DOUBLE(v);
        return 0;
    }
    double d = PyFloat_AsDouble(v);
    if (d == -1.0 && PyErr_Occurred())
        return -1;
    *out = d;
    return 0;
}

/* A list/tuple/set/frozenset to iterate (new reference); other values go through the Python
 * codec's as_sequence (strings and mappings refused, other iterables listed). */
PyObject *sf_as_sequence(PyObject *v) {
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v) || PyAnySet_CheckExact(v)) {
        Py_INCREF(v);
        return v;
    }
    return call_helper("as_sequence", v, -1);
}

/* A dict (new reference) or a list of (key, value) pairs from the Python as_items. */
PyObject *sf_as_items(PyObject *v) {
    if (PyDict_CheckExact(v)) {
        Py_INCREF(v);
        return v;
    }
    PyObject *r = call_helper("as_items", v, -1);
    if (r == NULL)
        return NULL;
    if (!PyList_Check(r)) {
        PyObject *l = PySequence_List(r);
        Py_DECREF(r);
        return l;
    }
    return r;
}

PyObject *sf_uuid_bytes(PyObject *v) {
    PyObject *r = call_helper("as_uuid_bytes", v, -1);
    if (r != NULL && (!PyBytes_Check(r) || PyBytes_GET_SIZE(r) != 16)) {
        Py_DECREF(r);
        PyErr_SetString(PyExc_ValueError, "uuid needs 16 bytes");
        return NULL;
    }
    return r;
}
