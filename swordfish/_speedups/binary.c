/* Thrift binary protocol: the C twin of swordfish/codec/binary.py.
 *
 * Every check below mirrors one in binary.py in the same order, because the order decides
 * which error a malformed input gets (see the differential tests in tests/codec). Lengths and
 * counts are checked against Limits and against the bytes left before anything is allocated.
 */
#include "speedups.h"

static inline int32_t rd_i32(const unsigned char *p) {
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
                     (uint32_t)p[3]);
}

static inline int64_t rd_i64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

/* Wire size of fixed-width types, 0 for others. */
static inline int fixed_size(int t) {
    switch (t) {
    case TT_BOOL: case TT_BYTE: return 1;
    case TT_I16: return 2;
    case TT_I32: return 4;
    case TT_I64: case TT_DOUBLE: return 8;
    case TT_UUID: return 16;
    default: return 0;
    }
}

/* Smallest encoding of one value of type t, or 0 for an invalid type id. */
static inline int min_size(int t) {
    switch (t) {
    case TT_STRING: return 4;
    case TT_STRUCT: return 1;
    case TT_MAP: return 6;
    case TT_SET: case TT_LIST: return 5;
    default: return fixed_size(t);
    }
}

#define AVAIL(c, n) ((c)->pos <= (c)->len - (Py_ssize_t)(n))

/* Python's _count(): sign, limit, then whether n elements can fit in what is left. */
static int check_count(DCtx *c, const char *what, long long n, int minsize) {
    if (n < 0)
        return sf_remote("negative %s size %lld", what, n);
    if (n > c->max_container)
        return sf_limit("%s of %lld elements exceeds max_container_size=%zd", what, n,
                        c->max_container);
    Py_ssize_t need = c->pos + (Py_ssize_t)(n * minsize);
    if (need > c->len)
        return sf_trunc_msg(c, need, "truncated %s: %lld elements cannot fit in the input",
                            what, n);
    return 0;
}

static PyObject *read_string(DCtx *c, int binary) {
    if (!AVAIL(c, 4))
        return sf_trunc(c), NULL;
    long long n = rd_i32(c->buf + c->pos);
    c->pos += 4;
    if (n < 0)
        return sf_remote("negative string length %lld", n), NULL;
    if (n > c->max_string)
        return sf_limit("string of %lld bytes exceeds max_string_size=%zd", n, c->max_string),
               NULL;
    Py_ssize_t end = c->pos + (Py_ssize_t)n;
    if (end > c->len)
        return sf_trunc_msg(c, end, "truncated string: %lld bytes declared", n), NULL;
    PyObject *s = sf_decode_text(c, c->buf + c->pos, (Py_ssize_t)n, binary);
    c->pos = end;
    return s;
}

/* A fixed-width scalar at c->pos (the caller checked that it fits). */
static inline PyObject *read_fixed(DCtx *c, int t) {
    const unsigned char *p = c->buf + c->pos;
    switch (t) {
    case TT_BOOL: c->pos += 1; return PyBool_FromLong(p[0] != 0);
    case TT_BYTE: c->pos += 1; return PyLong_FromLong((signed char)p[0]);
    case TT_I16: c->pos += 2; return PyLong_FromLong((int16_t)((p[0] << 8) | p[1]));
    case TT_I32: c->pos += 4; return PyLong_FromLong(rd_i32(p));
    case TT_I64: c->pos += 8; return PyLong_FromLongLong(rd_i64(p));
    case TT_DOUBLE: c->pos += 8; return PyFloat_FromDouble(PyFloat_Unpack8((const char *)p, 0));
    default: return NULL;
    }
}

static PyObject *read_value(DCtx *c, TypeInfo *t, long depth, int hashable);

static PyObject *read_list(DCtx *c, TypeInfo *t, long depth, int hashable) {
    const char *what = t->ttype == TT_LIST ? "list" : "set";
    char t1[16], t2[16];
    if (depth > c->max_depth)
        return sf_limit("%s: nesting deeper than max_depth=%ld", what, c->max_depth), NULL;
    if (!AVAIL(c, 5))
        return sf_trunc(c), NULL;
    int wt = c->buf[c->pos];
    long long n = rd_i32(c->buf + c->pos + 1);
    c->pos += 5;
    int et = t->value->ttype;
    if (wt != et && n > 0)
        return sf_remote("%s element type %s where %s was expected", what,
                         sf_ttype_name(wt, t1), sf_ttype_name(et, t2)),
               NULL;
    if (check_count(c, what, n, min_size(et)) < 0)
        return NULL;
    int kind = sf_container_kind(t, hashable);
    if (n == 0)
        return sf_empty_container(kind);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL)
        return NULL;
    if (fixed_size(et) && et != TT_UUID) {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v = read_fixed(c, et);
            if (v == NULL) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, i, v);
        }
    } else {
        if (sf_enter(depth) < 0) {
            Py_DECREF(list);
            return NULL;
        }
        int eh = hashable || kind == K_SET || kind == K_FROZENSET;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v = read_value(c, t->value, depth + 1, eh);
            if (v == NULL) {
                Py_LeaveRecursiveCall();
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, i, v);
        }
        Py_LeaveRecursiveCall();
    }
    return sf_pack_container(kind, list);
}

static PyObject *read_map(DCtx *c, TypeInfo *t, long depth) {
    char t1[16], t2[16], t3[16], t4[16];
    if (depth > c->max_depth)
        return sf_limit("map: nesting deeper than max_depth=%ld", c->max_depth), NULL;
    if (!AVAIL(c, 6))
        return sf_trunc(c), NULL;
    int wkt = c->buf[c->pos], wvt = c->buf[c->pos + 1];
    long long n = rd_i32(c->buf + c->pos + 2);
    c->pos += 6;
    int kt = t->key->ttype, vt = t->value->ttype;
    if ((wkt != kt || wvt != vt) && n > 0)
        return sf_remote("map key/value types %s/%s where %s/%s was expected",
                         sf_ttype_name(wkt, t1), sf_ttype_name(wvt, t2), sf_ttype_name(kt, t3),
                         sf_ttype_name(vt, t4)),
               NULL;
    if (check_count(c, "map", n, min_size(kt) + min_size(vt)) < 0)
        return NULL;
    if (n == 0)
        return PyDict_New();
    /* Pre-sized: n is bounded by the bytes left (check_count), so this cannot be abused. */
    PyObject *d = _PyDict_NewPresized((Py_ssize_t)n);
    if (d == NULL)
        return NULL;
    if (sf_enter(depth) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    for (long long i = 0; i < n; i++) {
        PyObject *k = read_value(c, t->key, depth + 1, 1);
        if (k == NULL)
            goto fail;
        PyObject *v = read_value(c, t->value, depth + 1, 0);
        if (v == NULL) {
            Py_DECREF(k);
            goto fail;
        }
        int r = PyDict_SetItem(d, k, v);
        Py_DECREF(k);
        Py_DECREF(v);
        if (r < 0)
            goto fail;
    }
    Py_LeaveRecursiveCall();
    return d;
fail:
    Py_LeaveRecursiveCall();
    Py_DECREF(d);
    return NULL;
}

static PyObject *unhashable(TypeInfo *t) {
    PyErr_Format(sf_RemoteProtocolError, "%U cannot be decoded as a map key or set member",
                 t->desc);
    return NULL;
}

static PyObject *read_value(DCtx *c, TypeInfo *t, long depth, int hashable) {
    int size = fixed_size(t->ttype);
    if (size) {
        if (t->ttype == TT_UUID) {
            Py_ssize_t end = c->pos + 16;
            if (end > c->len)
                return sf_trunc_msg(c, end, "truncated uuid"), NULL;
            c->pos = end;
            return sf_make_uuid(c->buf + end - 16);
        }
        if (!AVAIL(c, size))
            return sf_trunc(c), NULL;
        return read_fixed(c, t->ttype);
    }
    switch (t->ttype) {
    case TT_STRING: return read_string(c, t->binary);
    case TT_STRUCT:
        if (hashable)
            return unhashable(t);
        return bin_read_struct(c, t->plan, depth);
    case TT_LIST: case TT_SET: return read_list(c, t, depth, hashable);
    case TT_MAP:
        if (hashable)
            return unhashable(t);
        return read_map(c, t, depth);
    default:
        PyErr_SetString(sf_LocalProtocolError, "cannot decode this type");
        return NULL;
    }
}

#define STACK_FIELDS 32

PyObject *bin_read_struct(DCtx *c, StructPlan *p, long depth) {
    if (depth > c->max_depth) {
        PyErr_Format(sf_LimitExceeded, "%U: nesting deeper than max_depth=%ld", p->name,
                     c->max_depth);
        return NULL;
    }
    if (sf_enter(depth) < 0)
        return NULL;
    PyObject *stack[STACK_FIELDS];
    PyObject **vals = stack;
    Py_ssize_t nf = p->nfields;
    if (nf > STACK_FIELDS) {
        vals = PyMem_Calloc((size_t)nf, sizeof(PyObject *));
        if (vals == NULL) {
            Py_LeaveRecursiveCall();
            return PyErr_NoMemory();
        }
    } else {
        memset(stack, 0, sizeof(PyObject *) * (size_t)nf);
    }
    const unsigned char *buf = c->buf;
    for (;;) {
        if (c->pos >= c->len) {
            sf_trunc(c);
            goto fail;
        }
        int t = buf[c->pos];
        if (t == 0)
            break;
        if (!AVAIL(c, 3)) {
            sf_trunc(c);
            goto fail;
        }
        unsigned key16 = ((unsigned)buf[c->pos + 1] << 8) | buf[c->pos + 2];
        c->pos += 3;
        Py_ssize_t i = sf_field_index(p, key16);
        if (i >= 0 && p->fields[i].type.ttype == t) {
            FieldInfo *f = &p->fields[i];
            PyObject *v;
            int size = fixed_size(t);
            if (size && t != TT_UUID) {
                if (!AVAIL(c, size)) {
                    sf_trunc(c);
                    goto fail;
                }
                v = read_fixed(c, t);
            } else if (t == TT_STRING) {
                v = read_string(c, f->type.binary);
            } else {
                v = read_value(c, &f->type, depth + 1, 0);
            }
            if (v == NULL) {
                if (c->utf8_err) {
                    c->utf8_err = 0;
                    PyErr_Format(sf_RemoteProtocolError, "invalid UTF-8 in %U.%U", p->name,
                                 f->name);
                }
                goto fail;
            }
            Py_XSETREF(vals[i], v);
        } else if (bin_skip(c, t, depth + 1) < 0) {
            goto fail;
        }
    }
    c->pos += 1;
    Py_LeaveRecursiveCall();
    PyObject *obj = sf_finish_struct(p, vals);
    if (vals != stack)
        PyMem_Free(vals);
    return obj;
fail:
    Py_LeaveRecursiveCall();
    for (Py_ssize_t i = 0; i < nf; i++)
        Py_CLEAR(vals[i]);
    if (vals != stack)
        PyMem_Free(vals);
    return NULL;
}

/* Skip one value of wire type t, validating it (Python's _make_skipper). */
int bin_skip(DCtx *c, int t, long depth) {
    char t1[16];
    int size = fixed_size(t);
    if (size) {
        Py_ssize_t end = c->pos + size;
        if (end > c->len)
            return sf_trunc_msg(c, end, "truncated %s", sf_ttype_name(t, t1));
        c->pos = end;
        return 0;
    }
    if (t == TT_STRING) {
        if (!AVAIL(c, 4))
            return sf_trunc(c);
        long long n = rd_i32(c->buf + c->pos);
        if (n < 0)
            return sf_remote("negative string length %lld", n);
        if (n > c->max_string)
            return sf_limit("string of %lld bytes exceeds max_string_size=%zd", n,
                            c->max_string);
        Py_ssize_t end = c->pos + 4 + (Py_ssize_t)n;
        if (end > c->len)
            return sf_trunc_msg(c, end, "truncated string: %lld bytes declared", n);
        c->pos = end;
        return 0;
    }
    if (depth > c->max_depth)
        return sf_limit("nesting deeper than max_depth=%ld", c->max_depth);
    if (t != TT_STRUCT && t != TT_LIST && t != TT_SET && t != TT_MAP)
        return sf_remote("invalid type id %d", t);
    if (sf_enter(depth) < 0)
        return -1;
    int rc = -1;
    if (t == TT_STRUCT) {
        for (;;) {
            if (c->pos < 0 || c->pos >= c->len) {
                sf_trunc(c);
                goto done;
            }
            int ft = c->buf[c->pos];
            if (ft == 0) {
                c->pos += 1;
                break;
            }
            c->pos += 3;
            if (bin_skip(c, ft, depth + 1) < 0)
                goto done;
        }
    } else if (t == TT_LIST || t == TT_SET) {
        if (!AVAIL(c, 5)) {
            sf_trunc(c);
            goto done;
        }
        int et = c->buf[c->pos];
        long long n = rd_i32(c->buf + c->pos + 1);
        c->pos += 5;
        if (n == 0) {
            rc = 0;
            goto done;
        }
        int ms = min_size(et);
        if (!ms) {
            sf_remote("invalid type id %d", et);
            goto done;
        }
        if (check_count(c, "list", n, ms) < 0)
            goto done;
        int es = fixed_size(et);
        if (es) {
            c->pos += (Py_ssize_t)(n * es);
        } else {
            for (long long i = 0; i < n; i++)
                if (bin_skip(c, et, depth + 1) < 0)
                    goto done;
        }
    } else {
        if (!AVAIL(c, 6)) {
            sf_trunc(c);
            goto done;
        }
        int kt = c->buf[c->pos], vt = c->buf[c->pos + 1];
        long long n = rd_i32(c->buf + c->pos + 2);
        c->pos += 6;
        if (n == 0) {
            rc = 0;
            goto done;
        }
        int ks = min_size(kt);
        if (!ks) {
            sf_remote("invalid type id %d", kt);
            goto done;
        }
        int vs = min_size(vt);
        if (!vs) {
            sf_remote("invalid type id %d", vt);
            goto done;
        }
        if (check_count(c, "map", n, ks + vs) < 0)
            goto done;
        if (fixed_size(kt) && fixed_size(vt)) {
            c->pos += (Py_ssize_t)(n * (ks + vs));
        } else {
            for (long long i = 0; i < n; i++) {
                if (bin_skip(c, kt, depth + 1) < 0 || bin_skip(c, vt, depth + 1) < 0)
                    goto done;
            }
        }
    }
    rc = 0;
done:
    Py_LeaveRecursiveCall();
    return rc;
}

int bin_envelope(DCtx *c, int strict_read, int decode_name, PyObject **name, int *mtype,
                 long *seqid) {
    if (!AVAIL(c, 4))
        return sf_trunc(c);
    int32_t word = rd_i32(c->buf + c->pos);
    c->pos += 4;
    if (word < 0) {
        uint32_t version = (uint32_t)word & 0xFFFF0000u;
        if (version != 0x80010000u)
            return sf_remote("bad version 0x%08x in message header", version);
        *mtype = (int)((uint32_t)word & 0xFF);
        if (!AVAIL(c, 4))
            return sf_trunc(c);
        long long n = rd_i32(c->buf + c->pos);
        c->pos += 4;
        if (sf_read_name(c, n, decode_name, name) < 0)
            return -1;
        if (!AVAIL(c, 4))
            return sf_trunc(c);
        *seqid = rd_i32(c->buf + c->pos);
        c->pos += 4;
    } else {
        if (strict_read)
            return sf_remote("old-style message without version header refused (strict_read)");
        if (sf_read_name(c, word, decode_name, name) < 0)
            return -1;
        if (!AVAIL(c, 5))
            return sf_trunc(c);
        *mtype = c->buf[c->pos];
        *seqid = rd_i32(c->buf + c->pos + 1);
        c->pos += 5;
    }
    if (*mtype < 1 || *mtype > 4)
        return sf_remote("invalid message type %d", *mtype);
    return 0;
}

/* ---- encoding ------------------------------------------------------------------------------ */

static inline void wr_i16(char *p, int v) {
    p[0] = (char)((v >> 8) & 0xFF);
    p[1] = (char)(v & 0xFF);
}

static inline void wr_i32(char *p, uint32_t v) {
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static inline void wr_i64(char *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (char)(v & 0xFF);
        v >>= 8;
    }
}

static int write_value(OutBuf *b, TypeInfo *t, PyObject *v);

static int write_bytes(OutBuf *b, PyObject *v, int text) {
    BytesView bv;
    if (sf_bytes_view(v, text, &bv) < 0)
        return -1;
    if (bv.n > SF_MAX_I32) {
        sf_view_release(&bv);
        return sf_bad_value("value too long");
    }
    if (ob_reserve(b, 4 + bv.n) < 0) {
        sf_view_release(&bv);
        return -1;
    }
    wr_i32(b->data + b->len, (uint32_t)bv.n);
    memcpy(b->data + b->len + 4, bv.p, (size_t)bv.n);
    b->len += 4 + bv.n;
    sf_view_release(&bv);
    return 0;
}

static int write_scalar(OutBuf *b, int t, PyObject *v) {
    long long x;
    double d;
    int r;
    if (ob_reserve(b, 8) < 0)
        return -1;
    char *p = b->data + b->len;
    switch (t) {
    case TT_BOOL:
        if ((r = sf_as_bool(v)) < 0)
            return -1;
        p[0] = (char)r;
        b->len += 1;
        return 0;
    case TT_BYTE:
        if (sf_as_int(v, -128, 127, &x) < 0)
            return -1;
        p[0] = (char)x;
        b->len += 1;
        return 0;
    case TT_I16:
        if (sf_as_int(v, -32768, 32767, &x) < 0)
            return -1;
        wr_i16(p, (int)x);
        b->len += 2;
        return 0;
    case TT_I32:
        if (sf_as_int(v, -SF_MAX_I32 - 1, SF_MAX_I32, &x) < 0)
            return -1;
        wr_i32(p, (uint32_t)x);
        b->len += 4;
        return 0;
    case TT_I64:
        if (sf_as_int(v, INT64_MIN, INT64_MAX, &x) < 0)
            return -1;
        wr_i64(p, (uint64_t)x);
        b->len += 8;
        return 0;
    case TT_DOUBLE:
        if (sf_as_double(v, &d) < 0)
            return -1;
        if (PyFloat_Pack8(d, p, 0) < 0)
            return -1;
        b->len += 8;
        return 0;
    default:
        PyErr_SetString(PyExc_TypeError, "not a scalar type");
        return -1;
    }
}

static int write_list(OutBuf *b, TypeInfo *t, PyObject *v) {
    PyObject *seq = sf_as_sequence(v);
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PyObject_Length(seq);
    int rc = -1;
    if (n < 0)
        goto done;
    if (n > SF_MAX_I32) {
        sf_bad_value("too many elements");
        goto done;
    }
    if (ob_reserve(b, 5) < 0)
        goto done;
    b->data[b->len] = (char)t->value->ttype;
    wr_i32(b->data + b->len + 1, (uint32_t)n);
    b->len += 5;
    if (PyList_CheckExact(seq) || PyTuple_CheckExact(seq)) {
        PyObject **items = PySequence_Fast_ITEMS(seq);
        for (Py_ssize_t i = 0; i < n; i++) {
            /* A list can shrink under us when an element's __index__ mutates it. */
            if (i >= PySequence_Fast_GET_SIZE(seq)) {
                sf_bad_value("sequence changed size during encoding");
                goto done;
            }
            items = PySequence_Fast_ITEMS(seq);
            PyObject *x = items[i];
            Py_INCREF(x);
            int r = write_value(b, t->value, x);
            Py_DECREF(x);
            if (r < 0)
                goto done;
        }
    } else {
        PyObject *it = PyObject_GetIter(seq);
        if (it == NULL)
            goto done;
        PyObject *x;
        Py_ssize_t count = 0;
        while ((x = PyIter_Next(it)) != NULL) {
            int r = write_value(b, t->value, x);
            Py_DECREF(x);
            count++;
            if (r < 0) {
                Py_DECREF(it);
                goto done;
            }
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            goto done;
        if (count != n) {
            sf_bad_value("set changed size during encoding");
            goto done;
        }
    }
    rc = 0;
done:
    Py_DECREF(seq);
    return rc;
}

static int write_pair(OutBuf *b, TypeInfo *t, PyObject *k, PyObject *x) {
    Py_INCREF(k);
    Py_INCREF(x);
    int r = write_value(b, t->key, k);
    if (r == 0)
        r = write_value(b, t->value, x);
    Py_DECREF(k);
    Py_DECREF(x);
    return r;
}

static int write_map(OutBuf *b, TypeInfo *t, PyObject *v) {
    PyObject *items = sf_as_items(v);
    if (items == NULL)
        return -1;
    int rc = -1;
    Py_ssize_t n = PyDict_CheckExact(items) ? PyDict_GET_SIZE(items) : PyList_GET_SIZE(items);
    if (n > SF_MAX_I32) {
        sf_bad_value("too many entries");
        goto done;
    }
    if (ob_reserve(b, 6) < 0)
        goto done;
    b->data[b->len] = (char)t->key->ttype;
    b->data[b->len + 1] = (char)t->value->ttype;
    wr_i32(b->data + b->len + 2, (uint32_t)n);
    b->len += 6;
    if (PyDict_CheckExact(items)) {
        Py_ssize_t pos = 0, count = 0;
        PyObject *k, *x;
        while (PyDict_Next(items, &pos, &k, &x)) {
            /* A value's __index__ & co. may mutate the dict: never write more pairs than
             * the header announced (a delete + insert keeps the size but adds an entry). */
            if (++count > n || write_pair(b, t, k, x) < 0) {
                if (count > n)
                    sf_bad_value("dict changed during encoding");
                goto done;
            }
        }
        if (PyDict_GET_SIZE(items) != n || count != n) {
            sf_bad_value("dict changed size during encoding");
            goto done;
        }
    } else {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
            PyObject *pair = PyList_GET_ITEM(items, i);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                sf_bad_value("bad item pair");
                goto done;
            }
            if (write_pair(b, t, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1)) < 0)
                goto done;
        }
    }
    rc = 0;
done:
    Py_DECREF(items);
    return rc;
}

static int write_value(OutBuf *b, TypeInfo *t, PyObject *v) {
    switch (t->ttype) {
    case TT_STRING: return write_bytes(b, v, !t->binary);
    case TT_STRUCT:
        if (Py_TYPE(v) != t->plan->cls) {
            int r = PyObject_IsInstance(v, (PyObject *)t->plan->cls);
            if (r <= 0)
                return r < 0 ? -1 : sf_bad_value("not an instance of the struct type");
        }
        return bin_write_struct(b, t->plan, v);
    case TT_LIST: case TT_SET: return write_list(b, t, v);
    case TT_MAP: return write_map(b, t, v);
    case TT_UUID: {
        PyObject *u = sf_uuid_bytes(v);
        if (u == NULL)
            return -1;
        int r = ob_put(b, PyBytes_AS_STRING(u), 16);
        Py_DECREF(u);
        return r;
    }
    default: return write_scalar(b, t->ttype, v);
    }
}

int bin_write_struct(OutBuf *b, StructPlan *p, PyObject *obj) {
    if (sf_enter_encode() < 0)
        return -1;
    int rc = -1;
    const int direct = Py_TYPE(obj) == p->cls;
    if (p->is_union) {
        int set = 0;
        for (Py_ssize_t i = 0; i < p->nfields; i++) {
            PyObject *tmp = NULL;
            PyObject *v = sf_get_field(obj, &p->fields[i], &tmp, direct);
            if (v == NULL)
                goto done;
            set += v != Py_None;
            Py_XDECREF(tmp);
        }
        if (set > 1) {
            sf_bad_value("union has more than one field set");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < p->nfields; i++) {
        FieldInfo *f = &p->fields[i];
        PyObject *tmp = NULL;
        PyObject *v = sf_get_field(obj, f, &tmp, direct);
        if (v == NULL)
            goto done;
        if (v == Py_None) {
            Py_XDECREF(tmp);
            if (f->required) {
                PyErr_Format(sf_LocalProtocolError, "required field %U.%U is unset", p->name,
                             f->name);
                goto done;
            }
            continue;
        }
        if (tmp == NULL)
            Py_INCREF(v);
        if (ob_reserve(b, 3) < 0) {
            Py_DECREF(v);
            goto done;
        }
        char *h = b->data + b->len;
        h[0] = (char)f->type.ttype;
        wr_i16(h + 1, f->key16);
        b->len += 3;
        int r = write_value(b, &f->type, v);
        Py_DECREF(v);
        if (r < 0)
            goto done;
    }
    if (ob_byte(b, 0) < 0)
        goto done;
    rc = 0;
done:
    sf_leave_encode();
    return rc;
}

int bin_write_envelope(OutBuf *b, int strict, const char *name, Py_ssize_t n, int mtype,
                       long seqid) {
    if (ob_reserve(b, 13 + n) < 0)
        return -1;
    char *p = b->data + b->len;
    if (strict) {
        wr_i32(p, 0x80010000u | (uint32_t)mtype);
        wr_i32(p + 4, (uint32_t)n);
        memcpy(p + 8, name, (size_t)n);
        wr_i32(p + 8 + n, (uint32_t)seqid);
        b->len += 12 + n;
    } else {
        wr_i32(p, (uint32_t)n);
        memcpy(p + 4, name, (size_t)n);
        p[4 + n] = (char)mtype;
        wr_i32(p + 5 + n, (uint32_t)seqid);
        b->len += 9 + n;
    }
    return 0;
}
