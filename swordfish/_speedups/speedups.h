/* Shared declarations of the swordfish._speedups C accelerator.
 *
 * The C codecs are twins of the pure-Python ones in swordfish/codec/: same bytes, same decoded
 * objects, same exception classes and (for decoding) the same messages. Read binary.py,
 * compact.py and _common.py next to binary.c and compact.c: every check here mirrors one there,
 * in the same order, because the order decides which error a malformed input gets.
 *
 * Layout: spec.c compiles a struct's StructSpec once into a StructPlan (a C field table cached
 * on the class); buffer.c holds the output buffer, input helpers and value conversions;
 * binary.c and compact.c the protocols; module.c the codec types and public entry points.
 */
#ifndef SWORDFISH_SPEEDUPS_H
#define SWORDFISH_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* Thrift wire type ids (TType). Not T_*: structmember.h owns those names. */
enum {
    TT_STOP = 0, TT_VOID = 1, TT_BOOL = 2, TT_BYTE = 3, TT_DOUBLE = 4, TT_I16 = 6,
    TT_I32 = 8, TT_I64 = 10, TT_STRING = 11, TT_STRUCT = 12, TT_MAP = 13, TT_SET = 14,
    TT_LIST = 15, TT_UUID = 16
};

/* Compact protocol type ids. */
enum {
    CT_STOP = 0, CT_TRUE = 1, CT_FALSE = 2, CT_BYTE = 3, CT_I16 = 4, CT_I32 = 5, CT_I64 = 6,
    CT_DOUBLE = 7, CT_BINARY = 8, CT_LIST = 9, CT_SET = 10, CT_MAP = 11, CT_STRUCT = 12,
    CT_UUID = 13
};

#define SF_MAX_I32 0x7FFFFFFFLL
/* Hard cap on C recursion, whatever max_depth and sys.getrecursionlimit() say: the C stack
 * is finite. Deeper input fails like Python's RecursionError does. */
#define SF_HARD_DEPTH 3000

typedef struct StructPlan StructPlan;

typedef struct TypeInfo {
    int ttype;            /* TType */
    int ctype;            /* compact type of the value (bool: CT_TRUE, as in headers) */
    int binary;           /* STRING: bytes, not str */
    int elem_hashable;    /* SET: element type decodes to hashable values */
    struct TypeInfo *key; /* MAP key */
    struct TypeInfo *value; /* MAP value, LIST/SET element */
    StructPlan *plan;     /* STRUCT (strong reference) */
    PyObject *desc;       /* TypeSpec.describe(), for messages (strong) */
} TypeInfo;

typedef struct {
    PyObject *name;       /* attribute name (str) */
    TypeInfo type;
    Py_ssize_t offset;    /* slot offset in the instance, or -1: use get/setattr */
    PyObject *dflt;       /* IDL default or NULL */
    int dflt_mutable;     /* deep-copy the default for each decoded instance */
    int required;
    long id;
    uint16_t key16;       /* id & 0xFFFF: what the wire carries */
    unsigned char zz_id[5]; /* compact long-form header: zigzag varint of the id */
    int zz_id_len;
} FieldInfo;

struct StructPlan {
    PyObject_HEAD
    PyTypeObject *cls;
    PyObject *spec;       /* keeps every referenced struct class (and its plan) alive */
    PyObject *name;       /* cls.__name__ */
    int is_union;
    Py_ssize_t nfields;
    FieldInfo *fields;
    int nlookup;          /* lookup[key16] = field index for key16 < nlookup */
    int16_t *lookup;
};

extern PyTypeObject StructPlan_Type;

/* The plan of a struct class (new reference), compiled and cached on first use. */
StructPlan *sf_plan_for(PyObject *cls);

static inline Py_ssize_t sf_field_index(const StructPlan *p, unsigned key16) {
    if ((int)key16 < p->nlookup)
        return p->lookup[key16];
    for (Py_ssize_t i = 0; i < p->nfields; i++)
        if (p->fields[i].key16 == key16)
            return i;
    return -1;
}

/* ---- module globals (set once at import) ------------------------------------------------ */
extern PyObject *sf_RemoteProtocolError, *sf_LimitExceeded, *sf_LocalProtocolError;
extern PyObject *sf_str_plan_attr;  /* "_sf_cplan" */
extern PyObject *sf_bool_ints;      /* {True: 1, False: 0}: the Python codecs' bool lookup */
extern PyObject *sf_empty_tuple;

/* Lazily imported Python helpers (NULL until first use). */
PyObject *sf_helper(const char *module, const char *name); /* borrowed, cached */

/* ---- decoding ----------------------------------------------------------------------------- */
typedef struct {
    const unsigned char *buf;
    Py_ssize_t len;
    Py_ssize_t pos;
    long max_depth;
    Py_ssize_t max_string;
    Py_ssize_t max_container;
    /* Short input is recorded here instead of raising, so the entry point can word it the
     * way Python's guard() does: 1 = plain (IndexError/struct.error in Python), 2 = with a
     * message and the offset the value reaches (Python's Truncated). */
    int trunc;
    Py_ssize_t needed;
    int utf8_err;         /* a string was not UTF-8; the enclosing struct names the field */
    char tmsg[200];
} DCtx;

int sf_trunc(DCtx *c);
int sf_trunc_msg(DCtx *c, Py_ssize_t needed, const char *fmt, ...);
int sf_remote(const char *fmt, ...);
int sf_limit(const char *fmt, ...);
PyObject *sf_decode_text(DCtx *c, const unsigned char *p, Py_ssize_t n, int binary);
PyObject *sf_make_uuid(const unsigned char *p);
PyObject *sf_finish_struct(StructPlan *p, PyObject **vals);
int sf_enter(long depth);
int sf_enter_encode(void);
void sf_leave_encode(void);
PyObject *sf_empty_container(int kind);
PyObject *sf_pack_container(int kind, PyObject *list);

/* Container kinds a LIST/SET decodes to. */
enum { K_LIST = 0, K_TUPLE = 1, K_SET = 2, K_FROZENSET = 3 };

static inline int sf_container_kind(const TypeInfo *t, int hashable) {
    int as_set = t->ttype == TT_SET && (hashable || t->elem_hashable);
    if (as_set)
        return hashable ? K_FROZENSET : K_SET;
    return hashable ? K_TUPLE : K_LIST;
}

const char *sf_ttype_name(int t, char *tmp);
const char *sf_ctype_name(int t, char *tmp);

/* ---- encoding ----------------------------------------------------------------------------- */
typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} OutBuf;

int sf_grow(OutBuf *b, Py_ssize_t extra);

static inline int ob_reserve(OutBuf *b, Py_ssize_t n) {
    if (b->cap - b->len >= n)
        return 0;
    return sf_grow(b, n);
}

static inline int ob_put(OutBuf *b, const void *p, Py_ssize_t n) {
    if (ob_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, (size_t)n);
    b->len += n;
    return 0;
}

static inline int ob_byte(OutBuf *b, unsigned char v) {
    if (b->len >= b->cap && sf_grow(b, 1) < 0)
        return -1;
    b->data[b->len++] = (char)v;
    return 0;
}

/* Bytes of a string/binary value; release with sf_view_release. */
typedef struct {
    const char *p;
    Py_ssize_t n;
    PyObject *owner;
} BytesView;

int sf_bytes_view(PyObject *v, int text, BytesView *bv);
static inline void sf_view_release(BytesView *bv) { Py_CLEAR(bv->owner); }

int sf_as_int(PyObject *v, long long lo, long long hi, long long *out);
int sf_as_bool(PyObject *v);
int sf_as_double(PyObject *v, double *out);
PyObject *sf_as_sequence(PyObject *v);
PyObject *sf_as_items(PyObject *v);
PyObject *sf_uuid_bytes(PyObject *v);
int sf_bad_value(const char *what);

/* Read the value of field f of obj: borrowed (NULL with an exception when unset), or a new
 * reference in *tmp. `direct` must be true only when Py_TYPE(obj) is exactly the plan's class:
 * the slot offsets were validated against that class's layout, and anything else that passes
 * isinstance() (a subclass, an object whose __class__ property lies, a class that copied the
 * plan attribute) is read through getattr, as the Python codec does. */
static inline PyObject *sf_get_field(PyObject *obj, const FieldInfo *f, PyObject **tmp,
                                     int direct) {
    if (direct && f->offset > 0) {
        PyObject *v = *(PyObject **)((char *)obj + f->offset);
        if (v == NULL)
            PyErr_SetObject(PyExc_AttributeError, f->name);
        return v;
    }
    *tmp = PyObject_GetAttr(obj, f->name);
    return *tmp;
}

/* ---- protocols ---------------------------------------------------------------------------- */
PyObject *bin_read_struct(DCtx *c, StructPlan *p, long depth);
int bin_skip(DCtx *c, int t, long depth);
int bin_envelope(DCtx *c, int strict_read, int decode_name, PyObject **name, int *mtype,
                 long *seqid);
int bin_write_struct(OutBuf *b, StructPlan *p, PyObject *obj);
int bin_write_envelope(OutBuf *b, int strict, const char *name, Py_ssize_t n, int mtype,
                       long seqid);

PyObject *cpt_read_struct(DCtx *c, StructPlan *p, long depth);
int cpt_skip(DCtx *c, int t, long depth);
int cpt_envelope(DCtx *c, int decode_name, PyObject **name, int *mtype, long *seqid);
int cpt_write_struct(OutBuf *b, StructPlan *p, PyObject *obj);
int cpt_write_envelope(OutBuf *b, const char *name, Py_ssize_t n, int mtype, long seqid);

/* Message name of n bytes at c->pos (shared by both envelopes). */
int sf_read_name(DCtx *c, long long n, int decode, PyObject **name);

#endif
