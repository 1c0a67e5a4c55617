/* swordfish._speedups: BinaryCodecC and CompactCodecC, the C twins of the pure-Python codecs.
 *
 * One C call per message: each public method parses/serializes the whole message here,
 * reading the StructPlan cached on each struct class (spec.c).
 *
 * Errors: decoding raises RemoteProtocolError / LimitExceeded with the Python codec's
 * wording, computed here. Encoding detects every bad value itself (nothing invalid is ever
 * written), and then lets the pure-Python twin re-run the same call to produce the reference
 * LocalProtocolError text naming Struct.field: error paths are cold, and this keeps the two
 * implementations' messages identical by construction. Inputs the C fast paths do not handle
 * (a class without a usable spec, an unusual buffer object, a negative scan offset) are
 * handed to the twin as well, so behaviour is the same everywhere.
 */
#include "speedups.h"
#include <structmember.h>

PyObject *sf_RemoteProtocolError, *sf_LimitExceeded, *sf_LocalProtocolError;
PyObject *sf_str_plan_attr, *sf_bool_ints, *sf_empty_tuple;
static PyObject *Limits_type, *default_limits;
static PyObject *helper_cache; /* "module:name" -> object */

PyObject *sf_helper(const char *module, const char *name) {
    PyObject *key = PyUnicode_FromFormat("%s:%s", module, name);
    if (key == NULL)
        return NULL;
    PyObject *v = PyDict_GetItemWithError(helper_cache, key);
    if (v == NULL && !PyErr_Occurred()) {
        PyObject *mod = PyImport_ImportModule(module);
        if (mod != NULL) {
            v = PyObject_GetAttrString(mod, name);
            Py_DECREF(mod);
            if (v != NULL) {
                /* setdefault: never replace an entry another thread's borrowed pointer
                 * may still be using (the import above can switch threads). */
                PyObject *kept = PyDict_SetDefault(helper_cache, key, v);
                Py_DECREF(v); /* the cache keeps it */
                v = kept;
            }
        }
    }
    Py_DECREF(key);
    return v;
}

typedef struct {
    PyObject_HEAD
    PyObject *limits;
    PyObject *twin;        /* the pure-Python codec with the same settings (lazy) */
    long max_depth;
    Py_ssize_t max_string, max_container, max_frame;
    char strict_write, strict_read, compact;
    char scratch_busy;
    char *scratch;         /* reused output buffer (not while a nested call uses it) */
    Py_ssize_t scratch_cap;
} CodecObject;

static PyTypeObject BinaryCodecC_Type, CompactCodecC_Type;

static Py_ssize_t limit_attr(PyObject *limits, const char *name) {
    PyObject *v = PyObject_GetAttrString(limits, name);
    if (v == NULL)
        return -1;
    Py_ssize_t r = PyLong_AsSsize_t(v);
    Py_DECREF(v);
    return r;
}

static int codec_setup(CodecObject *self, PyObject *limits, int compact) {
    if (limits == NULL)
        limits = default_limits;
    int ok = PyObject_IsInstance(limits, Limits_type);
    if (ok < 0)
        return -1;
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "limits must be a Limits, got %s",
                     Py_TYPE(limits)->tp_name);
        return -1;
    }
    Py_ssize_t d = limit_attr(limits, "max_depth");
    Py_ssize_t s = limit_attr(limits, "max_string_size");
    Py_ssize_t c = limit_attr(limits, "max_container_size");
    Py_ssize_t f = limit_attr(limits, "max_frame_size");
    if (PyErr_Occurred())
        return -1;
    Py_INCREF(limits);
    Py_XSETREF(self->limits, limits);
    Py_CLEAR(self->twin);
    self->max_depth = d > 0x7FFFFFFF ? 0x7FFFFFFF : (long)d;
    self->max_string = s;
    self->max_container = c;
    self->max_frame = f;
    self->compact = (char)compact;
    return 0;
}

static int binary_init(CodecObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"limits", "strict_write", "strict_read", NULL};
    PyObject *limits = NULL;
    int sw = 1, sr = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$pp:BinaryCodecC", kwlist, &limits, &sw,
                                     &sr))
        return -1;
    self->strict_write = (char)sw;
    self->strict_read = (char)sr;
    return codec_setup(self, limits, 0);
}

static int compact_init(CodecObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"limits", NULL};
    PyObject *limits = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:CompactCodecC", kwlist, &limits))
        return -1;
    return codec_setup(self, limits, 1);
}

static void codec_dealloc(CodecObject *self) {
    Py_CLEAR(self->limits);
    Py_CLEAR(self->twin);
    PyMem_Free(self->scratch);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *codec_repr(CodecObject *self) {
    if (self->compact)
        return PyUnicode_FromFormat("CompactCodecC(limits=%R)", self->limits);
    return PyUnicode_FromFormat("BinaryCodecC(strict_write=%s, strict_read=%s, limits=%R)",
                                self->strict_write ? "True" : "False",
                                self->strict_read ? "True" : "False", self->limits);
}

static PyObject *get_twin(CodecObject *self) {
    if (self->twin != NULL)
        return self->twin;
    PyObject *cls;
    if (self->compact) {
        cls = sf_helper("swordfish.codec.compact", "CompactCodecPy");
        if (cls == NULL)
            return NULL;
        self->twin = PyObject_CallOneArg(cls, self->limits);
    } else {
        cls = sf_helper("swordfish.codec.binary", "BinaryCodecPy");
        if (cls == NULL)
            return NULL;
        PyObject *kw = Py_BuildValue("{s:O,s:O}", "strict_write",
                                     self->strict_write ? Py_True : Py_False, "strict_read",
                                     self->strict_read ? Py_True : Py_False);
        PyObject *args = PyTuple_Pack(1, self->limits);
        if (kw != NULL && args != NULL)
            self->twin = PyObject_Call(cls, args, kw);
        Py_XDECREF(kw);
        Py_XDECREF(args);
    }
    return self->twin;
}

/* Run the pure-Python twin's `method` on the same arguments (see the header comment). */
static PyObject *twin_call(CodecObject *self, const char *method, PyObject *const *args,
                           Py_ssize_t nargs) {
    PyObject *twin = get_twin(self);
    if (twin == NULL)
        return NULL;
    PyObject *name = PyUnicode_FromString(method);
    if (name == NULL)
        return NULL;
    PyObject *stack[5];
    stack[0] = twin;
    for (Py_ssize_t i = 0; i < nargs && i < 4; i++)
        stack[i + 1] = args[i];
    PyObject *r = PyObject_VectorcallMethod(name, stack, (size_t)(nargs + 1), NULL);
    Py_DECREF(name);
    return r;
}

/* The C encoder failed (exception set): the twin words the error. */
static PyObject *encode_failed(CodecObject *self, const char *method, PyObject *const *args,
                               Py_ssize_t nargs) {
    if (PyErr_ExceptionMatches(PyExc_MemoryError))
        return NULL;
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyObject *r = twin_call(self, method, args, nargs);
    if (r == NULL) {
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(tb);
        return NULL;
    }
    /* The twin accepted what C refused (e.g. an iterator C already consumed): never return
     * bytes C did not vouch for; report C's own error instead. */
    Py_DECREF(r);
    PyErr_NormalizeException(&et, &ev, &tb);
    if (ev != NULL && PyObject_IsInstance(ev, sf_LocalProtocolError) == 1) {
        PyErr_Restore(et, ev, tb);
        return NULL;
    }
    PyErr_Format(sf_LocalProtocolError, "cannot encode value: %S", ev ? ev : Py_None);
    Py_XDECREF(et);
    Py_XDECREF(ev);
    Py_XDECREF(tb);
    return NULL;
}

/* ---- argument parsing (vectorcall, with keywords) ---------------------------------------- */

static int parse_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                      const char *const *names, int nreq, int nmax, PyObject **out,
                      const char *fname) {
    for (int i = 0; i < nmax; i++)
        out[i] = NULL;
    if (nargs > nmax) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fname,
                     nmax, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        out[i] = args[i];
    if (kwnames != NULL) {
        Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nk; k++) {
            PyObject *kn = PyTuple_GET_ITEM(kwnames, k);
            int found = 0;
            for (int i = 0; i < nmax; i++) {
                if (PyUnicode_CompareWithASCIIString(kn, names[i]) == 0) {
                    if (out[i] != NULL) {
                        PyErr_Format(PyExc_TypeError, "%s() got multiple values for '%s'",
                                     fname, names[i]);
                        return -1;
                    }
                    out[i] = args[nargs + k];
                    found = 1;
                    break;
                }
            }
            if (!found) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'",
                             fname, kn);
                return -1;
            }
        }
    }
    for (int i = 0; i < nreq; i++) {
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname,
                         names[i]);
            return -1;
        }
    }
    return 0;
}

/* ---- input buffers -------------------------------------------------------------------------- */

/* A contiguous byte view of data, as Python's normalize_input() accepts it; *keep holds a
 * normalized copy when one was needed. */
static int get_input(PyObject *data, Py_buffer *view, PyObject **keep) {
    *keep = NULL;
    if (PyBytes_Check(data) || PyByteArray_Check(data))
        return PyObject_GetBuffer(data, view, PyBUF_SIMPLE);
    if (PyMemoryView_Check(data)) {
        if (PyObject_GetBuffer(data, view, PyBUF_SIMPLE) == 0)
            return 0;
        PyErr_Clear();
    }
    PyObject *norm = sf_helper("swordfish.codec._common", "normalize_input");
    if (norm == NULL)
        return -1;
    *keep = PyObject_CallOneArg(norm, data);
    if (*keep == NULL)
        return -1;
    if (PyObject_GetBuffer(*keep, view, PyBUF_SIMPLE) < 0) {
        Py_CLEAR(*keep);
        return -1;
    }
    return 0;
}

static void release_input(Py_buffer *view, PyObject *keep) {
    PyBuffer_Release(view);
    Py_XDECREF(keep);
}

static void ctx_init(DCtx *c, CodecObject *self, Py_buffer *view, Py_ssize_t pos) {
    c->buf = (const unsigned char *)view->buf;
    c->len = view->len;
    c->pos = pos;
    c->max_depth = self->max_depth;
    c->max_string = self->max_string;
    c->max_container = self->max_container;
    c->trunc = 0;
    c->needed = -1;
    c->utf8_err = 0;
    c->tmsg[0] = 0;
}

/* Python's guard(): short input and runaway recursion become RemoteProtocolError. */
static void guard_error(DCtx *c, PyObject *what) {
    if (c->trunc == 2) {
        PyErr_Clear();
        PyErr_Format(sf_RemoteProtocolError, "truncated %U: %s", what, c->tmsg);
    } else if (c->trunc == 1) {
        PyErr_Clear();
        PyErr_Format(sf_RemoteProtocolError, "truncated %U: input ended at byte %zd", what,
                     c->len);
    } else if (PyErr_ExceptionMatches(PyExc_RecursionError)) {
        PyErr_Clear();
        PyErr_Format(sf_RemoteProtocolError, "%U: nesting too deep to decode", what);
    } else if (!PyErr_Occurred()) {
        PyErr_Format(sf_RemoteProtocolError, "%U: invalid input", what);
    }
}

static PyObject *read_struct(CodecObject *self, DCtx *c, StructPlan *p) {
    return self->compact ? cpt_read_struct(c, p, 1) : bin_read_struct(c, p, 1);
}

static int skip_struct(CodecObject *self, DCtx *c) {
    return self->compact ? cpt_skip(c, CT_STRUCT, 1) : bin_skip(c, TT_STRUCT, 1);
}

static int envelope(CodecObject *self, DCtx *c, int decode_name, PyObject **name, int *mtype,
                    long *seqid) {
    if (self->compact)
        return cpt_envelope(c, decode_name, name, mtype, seqid);
    return bin_envelope(c, self->strict_read, decode_name, name, mtype, seqid);
}

/* ---- output buffer ownership ---------------------------------------------------------------- */

static int out_open(CodecObject *self, OutBuf *b) {
    b->len = 0;
    if (!self->scratch_busy) {
        if (self->scratch == NULL) {
            self->scratch = PyMem_Malloc(1024);
            if (self->scratch == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            self->scratch_cap = 1024;
        }
        self->scratch_busy = 1;
        b->data = self->scratch;
        b->cap = self->scratch_cap;
        return 1;
    }
    b->data = PyMem_Malloc(256);
    if (b->data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->cap = 256;
    return 0;
}

static PyObject *out_close(CodecObject *self, OutBuf *b, int own, int ok) {
    PyObject *r = ok ? PyBytes_FromStringAndSize(b->data, b->len) : NULL;
    if (own) {
        self->scratch_busy = 0;
        if (b->cap > (1 << 20)) { /* do not keep a huge buffer around after one big message */
            PyMem_Free(b->data);
            self->scratch = NULL;
            self->scratch_cap = 0;
        } else {
            self->scratch = b->data;
            self->scratch_cap = b->cap;
        }
    } else {
        PyMem_Free(b->data);
    }
    return r;
}

static int write_struct(CodecObject *self, OutBuf *b, StructPlan *p, PyObject *obj) {
    return self->compact ? cpt_write_struct(b, p, obj) : bin_write_struct(b, p, obj);
}

/* ---- public methods ------------------------------------------------------------------------- */

static PyObject *codec_encode_struct(CodecObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames) {
    static const char *const names[] = {"obj"};
    PyObject *a[1];
    if (parse_args(args, nargs, kwnames, names, 1, 1, a, "encode_struct") < 0)
        return NULL;
    StructPlan *p = sf_plan_for((PyObject *)Py_TYPE(a[0]));
    if (p == NULL)
        return encode_failed(self, "encode_struct", a, 1);
    OutBuf b;
    int own = out_open(self, &b);
    if (own < 0) {
        Py_DECREF(p);
        return NULL;
    }
    int ok = write_struct(self, &b, p, a[0]) == 0;
    Py_DECREF(p);
    PyObject *r = out_close(self, &b, own, ok);
    if (r == NULL && !PyErr_ExceptionMatches(PyExc_MemoryError))
        return encode_failed(self, "encode_struct", a, 1);
    return r;
}

static PyObject *codec_encode_message(CodecObject *self, PyObject *const *args,
                                      Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"name", "mtype", "seqid", "body"};
    PyObject *a[4];
    if (parse_args(args, nargs, kwnames, names, 4, 4, a, "encode_message") < 0)
        return NULL;
    PyObject *name = a[0], *mt = a[1], *sq = a[2], *body = a[3];
    if (!PyUnicode_CheckExact(name) || PyBool_Check(mt) || !PyLong_Check(mt) ||
        PyBool_Check(sq) || !PyLong_Check(sq))
        goto refuse;
    long mtype = PyLong_AsLong(mt);
    if (mtype == -1 && PyErr_Occurred())
        goto fail;
    if (mtype < 1 || mtype > 4)
        goto refuse;
    long long seqid = PyLong_AsLongLong(sq);
    if (seqid == -1 && PyErr_Occurred())
        goto fail;
    if (seqid < -SF_MAX_I32 - 1 || seqid > SF_MAX_I32)
        goto refuse;
    Py_ssize_t nlen;
    const char *nb = PyUnicode_AsUTF8AndSize(name, &nlen);
    if (nb == NULL)
        goto fail;
    if (nlen > SF_MAX_I32) /* the length must fit the i32/varint header */
        goto refuse;
    StructPlan *p = sf_plan_for((PyObject *)Py_TYPE(body));
    if (p == NULL)
        goto fail;
    OutBuf b;
    int own = out_open(self, &b);
    if (own < 0) {
        Py_DECREF(p);
        return NULL;
    }
    int r = self->compact ? cpt_write_envelope(&b, nb, nlen, (int)mtype, (long)seqid)
                          : bin_write_envelope(&b, self->strict_write, nb, nlen, (int)mtype,
                                               (long)seqid);
    int ok = r == 0 && write_struct(self, &b, p, body) == 0;
    Py_DECREF(p);
    PyObject *res = out_close(self, &b, own, ok);
    if (res != NULL || PyErr_ExceptionMatches(PyExc_MemoryError))
        return res;
    goto fail;
refuse:
    PyErr_SetString(sf_LocalProtocolError, "invalid message envelope");
fail:
    return encode_failed(self, "encode_message", a, 4);
}

static PyObject *codec_decode_struct(CodecObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames) {
    static const char *const names[] = {"cls", "data"};
    PyObject *a[2];
    if (parse_args(args, nargs, kwnames, names, 2, 2, a, "decode_struct") < 0)
        return NULL;
    Py_buffer view;
    PyObject *keep;
    if (get_input(a[1], &view, &keep) < 0)
        return NULL;
    StructPlan *p = PyType_Check(a[0]) ? sf_plan_for(a[0]) : NULL;
    if (p == NULL) {
        release_input(&view, keep);
        PyErr_Clear();
        return twin_call(self, "decode_struct", a, 2);
    }
    DCtx c;
    ctx_init(&c, self, &view, 0);
    PyObject *obj = read_struct(self, &c, p);
    if (obj == NULL) {
        guard_error(&c, p->name);
    } else if (c.pos != c.len) {
        Py_CLEAR(obj);
        PyErr_Format(sf_RemoteProtocolError, "%zd trailing bytes after %U (%zd bytes)",
                     c.len - c.pos, p->name, c.len);
    }
    Py_DECREF(p);
    release_input(&view, keep);
    return obj;
}

static PyObject *message_type_member(int mtype) {
    static PyObject *members[5];
    if (members[mtype] == NULL) {
        PyObject *mt = sf_helper("swordfish.model.ttype", "MessageType");
        if (mt == NULL)
            return NULL;
        PyObject *m = PyObject_CallFunction(mt, "i", mtype);
        if (m == NULL)
            return NULL;
        /* The call runs Python code: another thread may have filled the slot meanwhile. */
        if (members[mtype] == NULL)
            members[mtype] = m;
        else
            Py_DECREF(m);
    }
    Py_INCREF(members[mtype]);
    return members[mtype];
}

static PyObject *make_message(PyObject *name, PyObject *mt, long seqid, PyObject *body) {
    PyObject *cls = sf_helper("swordfish.codec.base", "Message");
    if (cls == NULL)
        return NULL;
    PyObject *sq = PyLong_FromLong(seqid);
    if (sq == NULL)
        return NULL;
    PyTypeObject *tp = (PyTypeObject *)cls;
    if (PyType_Check(cls) && PyType_IsSubtype(tp, &PyTuple_Type) &&
        tp->tp_basicsize == PyTuple_Type.tp_basicsize &&
        tp->tp_itemsize == PyTuple_Type.tp_itemsize) {
        /* A NamedTuple adds no fields to tuple: fill the items directly (no __new__ call). */
        PyObject *t = tp->tp_alloc(tp, 4);
        if (t == NULL) {
            Py_DECREF(sq);
            return NULL;
        }
        Py_INCREF(name);
        Py_INCREF(mt);
        Py_INCREF(body);
        PyTuple_SET_ITEM(t, 0, name);
        PyTuple_SET_ITEM(t, 1, mt);
        PyTuple_SET_ITEM(t, 2, sq);
        PyTuple_SET_ITEM(t, 3, body);
        return t;
    }
    PyObject *r = PyObject_CallFunctionObjArgs(cls, name, mt, sq, body, NULL);
    Py_DECREF(sq);
    return r;
}

static PyObject *codec_decode_message(CodecObject *self, PyObject *const *args,
                                      Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"data", "body_type"};
    PyObject *a[2];
    if (parse_args(args, nargs, kwnames, names, 2, 2, a, "decode_message") < 0)
        return NULL;
    Py_buffer view;
    PyObject *keep;
    if (get_input(a[0], &view, &keep) < 0)
        return NULL;
    DCtx c;
    ctx_init(&c, self, &view, 0);
    PyObject *name = NULL, *mt = NULL, *cls = NULL, *body = NULL, *what = NULL, *res = NULL;
    StructPlan *p = NULL;
    int mtype = 0;
    long seqid = 0;
    if (envelope(self, &c, 1, &name, &mtype, &seqid) < 0) {
        if (c.trunc == 2)
            PyErr_Format(sf_RemoteProtocolError, "truncated message envelope: %s", c.tmsg);
        else if (c.trunc == 1)
            PyErr_Format(sf_RemoteProtocolError, "truncated message envelope (%zd bytes)",
                         c.len);
        goto done;
    }
    mt = message_type_member(mtype);
    if (mt == NULL)
        goto done;
    PyObject *rargs[2] = {name, mt};
    cls = PyObject_Vectorcall(a[1], rargs, 2, NULL);
    if (cls == NULL)
        goto done;
    if (cls == Py_None) {
        what = PyUnicode_FromFormat("body of %R", name);
        if (what == NULL)
            goto done;
        if (skip_struct(self, &c) < 0) {
            guard_error(&c, what);
            goto done;
        }
        body = Py_None;
        Py_INCREF(body);
    } else {
        p = PyType_Check(cls) ? sf_plan_for(cls) : NULL;
        if (p == NULL) {
            /* No usable plan (not a struct class?): the twin decodes and raises its own
             * error. It calls the resolver once more; only reachable with a broken resolver
             * or class. */
            PyErr_Clear();
            PyObject *targs[2] = {a[0], a[1]};
            res = twin_call(self, "decode_message", targs, 2);
            goto done;
        }
        c.trunc = 0;
        body = read_struct(self, &c, p);
        if (body == NULL) {
            guard_error(&c, p->name);
            goto done;
        }
    }
    if (c.pos != c.len) {
        PyErr_Format(sf_RemoteProtocolError, "%zd trailing bytes after message %R",
                     c.len - c.pos, name);
        goto done;
    }
    res = make_message(name, mt, seqid, body);
done:
    Py_XDECREF(name);
    Py_XDECREF(mt);
    Py_XDECREF(cls);
    Py_XDECREF(body);
    Py_XDECREF(what);
    Py_XDECREF(p);
    if (view.obj != NULL)
        PyBuffer_Release(&view);
    Py_XDECREF(keep);
    return res;
}

static PyObject *codec_scan_message(CodecObject *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames) {
    static const char *const names[] = {"data", "start"};
    PyObject *a[2];
    if (parse_args(args, nargs, kwnames, names, 1, 2, a, "scan_message") < 0)
        return NULL;
    Py_ssize_t start = 0;
    if (a[1] != NULL) {
        start = PyNumber_AsSsize_t(a[1], PyExc_OverflowError);
        if (start == -1 && PyErr_Occurred())
            return NULL;
        if (start < 0) /* Python indexes from the end there: leave that to the twin */
            return twin_call(self, "scan_message", a, 2);
    }
    Py_buffer view;
    PyObject *keep;
    if (get_input(a[0], &view, &keep) < 0)
        return NULL;
    DCtx c;
    ctx_init(&c, self, &view, start);
    PyObject *res = NULL;
    Py_ssize_t maxf = self->max_frame;
    int mtype;
    long seqid;
    if (envelope(self, &c, 0, NULL, &mtype, &seqid) == 0 && skip_struct(self, &c) == 0) {
        Py_ssize_t total = c.pos - start;
        if (total > maxf)
            PyErr_Format(sf_LimitExceeded, "message of %zd bytes exceeds max_frame_size=%zd",
                         total, maxf);
        else
            res = PyLong_FromSsize_t(total);
    } else if (c.trunc) {
        Py_ssize_t seen = (c.needed > c.len ? c.needed : c.len) - start;
        if (c.trunc == 1)
            seen = c.len - start;
        PyErr_Clear();
        if (seen > maxf)
            PyErr_Format(sf_LimitExceeded,
                         "message of at least %zd bytes exceeds max_frame_size=%zd", seen, maxf);
        else
            res = PyLong_FromLong(-1);
    } else if (PyErr_ExceptionMatches(PyExc_RecursionError)) {
        PyErr_Clear();
        PyErr_SetString(sf_RemoteProtocolError, "message nesting too deep to scan");
    }
    release_input(&view, keep);
    return res;
}

static PyMethodDef codec_methods[] = {
    {"encode_struct", (PyCFunction)(void (*)(void))codec_encode_struct,
     METH_FASTCALL | METH_KEYWORDS, "Serialize a struct (no message envelope)."},
    {"decode_struct", (PyCFunction)(void (*)(void))codec_decode_struct,
     METH_FASTCALL | METH_KEYWORDS, "Deserialize one struct occupying all of data."},
    {"encode_message", (PyCFunction)(void (*)(void))codec_encode_message,
     METH_FASTCALL | METH_KEYWORDS, "Serialize an envelope followed by body."},
    {"decode_message", (PyCFunction)(void (*)(void))codec_decode_message,
     METH_FASTCALL | METH_KEYWORDS, "Deserialize one whole message occupying all of data."},
    {"scan_message", (PyCFunction)(void (*)(void))codec_scan_message,
     METH_FASTCALL | METH_KEYWORDS,
     "Length of the complete message starting at start, or NEED_DATA (-1)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef binary_members[] = {
    {"limits", T_OBJECT, offsetof(CodecObject, limits), READONLY, NULL},
    {"strict_write", T_BOOL, offsetof(CodecObject, strict_write), READONLY, NULL},
    {"strict_read", T_BOOL, offsetof(CodecObject, strict_read), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyMemberDef compact_members[] = {
    {"limits", T_OBJECT, offsetof(CodecObject, limits), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject BinaryCodecC_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "swordfish._speedups.BinaryCodecC",
    .tp_basicsize = sizeof(CodecObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Thrift binary protocol in C (the twin of BinaryCodecPy).\n\n"
              "BinaryCodecC(limits=DEFAULT_LIMITS, *, strict_write=True, strict_read=False)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)binary_init,
    .tp_dealloc = (destructor)codec_dealloc,
    .tp_repr = (reprfunc)codec_repr,
    .tp_methods = codec_methods,
    .tp_members = binary_members,
};

static PyTypeObject CompactCodecC_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "swordfish._speedups.CompactCodecC",
    .tp_basicsize = sizeof(CodecObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Thrift compact protocol in C (the twin of CompactCodecPy).\n\n"
              "CompactCodecC(limits=DEFAULT_LIMITS)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)compact_init,
    .tp_dealloc = (destructor)codec_dealloc,
    .tp_repr = (reprfunc)codec_repr,
    .tp_methods = codec_methods,
    .tp_members = compact_members,
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "swordfish._speedups",
    .m_doc = "C accelerator for the Thrift binary and compact codecs.",
    .m_size = -1,
};

static int set_class_attr(PyTypeObject *tp, const char *name, PyObject *v) {
    if (v == NULL)
        return -1;
    int r = PyDict_SetItemString(tp->tp_dict, name, v);
    Py_DECREF(v);
    return r;
}

PyMODINIT_FUNC PyInit__speedups(void) {
    PyObject *errors = PyImport_ImportModule("swordfish.errors");
    if (errors == NULL)
        return NULL;
    sf_RemoteProtocolError = PyObject_GetAttrString(errors, "RemoteProtocolError");
    sf_LimitExceeded = PyObject_GetAttrString(errors, "LimitExceeded");
    sf_LocalProtocolError = PyObject_GetAttrString(errors, "LocalProtocolError");
    Py_DECREF(errors);
    if (!sf_RemoteProtocolError || !sf_LimitExceeded || !sf_LocalProtocolError)
        return NULL;
    PyObject *limits = PyImport_ImportModule("swordfish.limits");
    if (limits == NULL)
        return NULL;
    Limits_type = PyObject_GetAttrString(limits, "Limits");
    default_limits = PyObject_GetAttrString(limits, "DEFAULT_LIMITS");
    Py_DECREF(limits);
    if (!Limits_type || !default_limits)
        return NULL;
    sf_str_plan_attr = PyUnicode_InternFromString("_sf_cplan");
    sf_empty_tuple = PyTuple_New(0);
    helper_cache = PyDict_New();
    sf_bool_ints = PyDict_New();
    if (!sf_str_plan_attr || !sf_empty_tuple || !helper_cache || !sf_bool_ints)
        return NULL;
    PyObject *one = PyLong_FromLong(1), *zero = PyLong_FromLong(0);
    int r = PyDict_SetItem(sf_bool_ints, Py_True, one);
    r |= PyDict_SetItem(sf_bool_ints, Py_False, zero);
    Py_XDECREF(one);
    Py_XDECREF(zero);
    if (r)
        return NULL;
    if (PyType_Ready(&StructPlan_Type) < 0 || PyType_Ready(&BinaryCodecC_Type) < 0 ||
        PyType_Ready(&CompactCodecC_Type) < 0)
        return NULL;
    if (set_class_attr(&BinaryCodecC_Type, "name", PyUnicode_FromString("binary")) < 0 ||
        set_class_attr(&BinaryCodecC_Type, "protocol_id", PyLong_FromLong(0)) < 0 ||
        set_class_attr(&CompactCodecC_Type, "name", PyUnicode_FromString("compact")) < 0 ||
        set_class_attr(&CompactCodecC_Type, "protocol_id", PyLong_FromLong(2)) < 0)
        return NULL;
    PyType_Modified(&BinaryCodecC_Type);
    PyType_Modified(&CompactCodecC_Type);
    PyObject *m = PyModule_Create(&speedups_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&BinaryCodecC_Type);
    Py_INCREF(&CompactCodecC_Type);
    Py_INCREF(&StructPlan_Type);
    if (PyModule_AddObject(m, "BinaryCodecC", (PyObject *)&BinaryCodecC_Type) < 0 ||
        PyModule_AddObject(m, "CompactCodecC", (PyObject *)&CompactCodecC_Type) < 0 ||
        PyModule_AddObject(m, "StructPlan", (PyObject *)&StructPlan_Type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
