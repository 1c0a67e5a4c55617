/* Thrift compact protocol: the C twin of swordfish/codec/compact.py.
 *
 * Every check mirrors one in compact.py in the same order (see binary.c). Varints are read
 * with the same length limits (5 bytes for 32-bit values, 10 for 64-bit) and overflow checks.
 */
#include "speedups.h"

#define AVAIL(c, n) ((c)->pos <= (c)->len - (Py_ssize_t)(n))

/* Unsigned varint of at most `limit` bytes (Python's _read_varint). *over is set when the
 * value does not fit 64 bits (Python checks n >> 64 where it matters). */
static int read_varint(DCtx *c, int limit, uint64_t *out, int *over) {
    *over = 0;
    if (c->pos >= c->len || c->pos < 0)
        return sf_trunc(c);
    unsigned b = c->buf[c->pos];
    if (b < 0x80) {
        c->pos += 1;
        *out = b;
        return 0;
    }
    uint64_t result = b & 0x7F;
    int shift = 7;
    Py_ssize_t end = c->pos + limit;
    c->pos += 1;
    for (;;) {
        if (c->pos >= end)
            return sf_remote("varint longer than %d bytes", limit);
        if (c->pos >= c->len)
            return sf_trunc(c);
        b = c->buf[c->pos++];
        uint64_t part = b & 0x7F;
        if (shift < 64) {
            if (shift > 57 && (part >> (64 - shift)) != 0)
                *over = 1;
            result |= part << shift;
        } else if (part) {
            *over = 1;
        }
        if (b < 0x80) {
            *out = result;
            return 0;
        }
        shift += 7;
    }
}

static inline int read_u32(DCtx *c, uint64_t *out) {
    if (c->pos < c->len && c->pos >= 0 && c->buf[c->pos] < 0x80) {
        *out = c->buf[c->pos++];
        return 0;
    }
    int over;
    if (read_varint(c, 5, out, &over) < 0)
        return -1;
    if (*out > 0xFFFFFFFFull)
        return sf_remote("varint overflows 32 bits");
    return 0;
}

/* A length or count: 32-bit varint that Apache peers read as a signed int. */
static int read_size(DCtx *c, const char *what, long long *n) {
    uint64_t u = 0;
    if (read_u32(c, &u) < 0)
        return -1;
    if (u > (uint64_t)SF_MAX_I32)
        return sf_remote("negative %s %lld", what, (long long)u - (1LL << 32));
    *n = (long long)u;
    return 0;
}

static int zz_i16(DCtx *c, long *v) {
    uint64_t u = 0;
    if (read_u32(c, &u) < 0)
        return -1;
    long long x = (long long)(u >> 1) ^ -(long long)(u & 1);
    if (x < -32768 || x > 32767)
        return sf_remote("i16 value %lld out of range", x);
    *v = (long)x;
    return 0;
}

static inline int zz_i32(DCtx *c, long *v) {
    uint64_t u = 0;
    if (read_u32(c, &u) < 0)
        return -1;
    *v = (long)((long long)(u >> 1) ^ -(long long)(u & 1));
    return 0;
}

static int zz_i64(DCtx *c, long long *v) {
    uint64_t u = 0;
    int over;
    if (read_varint(c, 10, &u, &over) < 0)
        return -1;
    if (over)
        return sf_remote("varint overflows 64 bits");
    *v = (long long)(u >> 1) ^ -(long long)(u & 1);
    return 0;
}

static inline int fixed_size(int ct) {
    switch (ct) {
    case CT_TRUE: case CT_FALSE: case CT_BYTE: return 1;
    case CT_DOUBLE: return 8;
    case CT_UUID: return 16;
    default: return 0;
    }
}

static inline int min_size(int ct) {
    switch (ct) {
    case CT_DOUBLE: return 8;
    case CT_UUID: return 16;
    default: return (ct >= 1 && ct <= 13) ? 1 : 0;
    }
}

static int check_count(DCtx *c, const char *what, long long n, int minsize) {
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
    long long n = 0;
    if (c->pos < c->len && c->buf[c->pos] < 0x80) {
        n = c->buf[c->pos++];
    } else if (read_size(c, "string length", &n) < 0) {
        return NULL;
    }
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

static PyObject *read_value(DCtx *c, TypeInfo *t, long depth, int hashable);

static PyObject *unhashable(TypeInfo *t) {
    PyErr_Format(sf_RemoteProtocolError, "%U cannot be decoded as a map key or set member",
                 t->desc);
    return NULL;
}

static PyObject *read_list(DCtx *c, TypeInfo *t, long depth, int hashable) {
    const char *what = t->ttype == TT_LIST ? "list" : "set";
    char t1[16], t2[16], sz[16];
    if (depth > c->max_depth)
        return sf_limit("%s: nesting deeper than max_depth=%ld", what, c->max_depth), NULL;
    if (c->pos >= c->len)
        return sf_trunc(c), NULL;
    int b = c->buf[c->pos++];
    long long n = b >> 4;
    if (n == 15) {
        snprintf(sz, sizeof(sz), "%s size", what);
        if (read_size(c, sz, &n) < 0)
            return NULL;
    }
    int kind = sf_container_kind(t, hashable);
    if (n == 0)
        return sf_empty_container(kind);
    int wt = b & 0x0F, et = t->value->ctype;
    int is_bool = t->value->ttype == TT_BOOL;
    if (wt != et && !(is_bool && wt == CT_FALSE))
        return sf_remote("%s element type %s where %s was expected", what,
                         sf_ctype_name(wt, t1), sf_ctype_name(et, t2)),
               NULL;
    if (check_count(c, what, n, min_size(et)) < 0)
        return NULL;
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL)
        return NULL;
    if (is_bool) {
        for (Py_ssize_t i = 0; i < n; i++)
            PyList_SET_ITEM(list, i, PyBool_FromLong(c->buf[c->pos + i] == CT_TRUE));
        c->pos += (Py_ssize_t)n;
    } else {
        if (sf_enter(depth) < 0) {
            Py_DECREF(list);
            return NULL;
        }
        int eh = hashable || kind == K_SET || kind == K_FROZENSET;
        int ett = t->value->ttype;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v;
            unsigned char b0;
            if ((ett == TT_I32 || ett == TT_I64) && c->pos < c->len &&
                (b0 = c->buf[c->pos]) < 0x80) { /* one-byte zigzag: no call */
                c->pos++;
                v = PyLong_FromLong((long)(b0 >> 1) ^ -(long)(b0 & 1));
            } else {
                v = read_value(c, t->value, depth + 1, eh);
            }
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
    long long n = 0;
    if (c->pos < c->len && c->buf[c->pos] < 0x80) {
        n = c->buf[c->pos++];
    } else if (read_size(c, "map size", &n) < 0) {
        return NULL;
    }
    if (n == 0)
        return PyDict_New();
    if (c->pos >= c->len)
        return sf_trunc(c), NULL;
    int b = c->buf[c->pos++];
    int wkt = b >> 4, wvt = b & 0x0F;
    int kt = t->key->ctype, vt = t->value->ctype;
    int kbool = t->key->ttype == TT_BOOL, vbool = t->value->ttype == TT_BOOL;
    if ((wkt != kt && !(kbool && wkt == CT_FALSE)) || (wvt != vt && !(vbool && wvt == CT_FALSE))) {
        return sf_remote("map key/value types %s/%s where %s/%s was expected",
                         sf_ctype_name(wkt, t1), sf_ctype_name(wvt, t2), sf_ctype_name(kt, t3),
                         sf_ctype_name(vt, t4)),
               NULL;
    }
    if (check_count(c, "map", n, min_size(kt) + min_size(vt)) < 0)
        return NULL;
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

static PyObject *read_value(DCtx *c, TypeInfo *t, long depth, int hashable) {
    switch (t->ttype) {
    case TT_BOOL:
        if (c->pos >= c->len)
            return sf_trunc(c), NULL;
        return PyBool_FromLong(c->buf[c->pos++] == CT_TRUE);
    case TT_BYTE:
        if (c->pos >= c->len)
            return sf_trunc(c), NULL;
        return PyLong_FromLong((signed char)c->buf[c->pos++]);
    case TT_I16: {
        long v = 0;
        if (zz_i16(c, &v) < 0)
            return NULL;
        return PyLong_FromLong(v);
    }
    case TT_I32: {
        long v = 0;
        if (zz_i32(c, &v) < 0)
            return NULL;
        return PyLong_FromLong(v);
    }
    case TT_I64: {
        long long v = 0;
        if (zz_i64(c, &v) < 0)
            return NULL;
        return PyLong_FromLongLong(v);
    }
    case TT_DOUBLE:
        if (!AVAIL(c, 8))
            return sf_trunc(c), NULL;
        c->pos += 8;
        return PyFloat_FromDouble(PyFloat_Unpack8((const char *)c->buf + c->pos - 8, 1));
    case TT_UUID: {
        Py_ssize_t end = c->pos + 16;
        if (end > c->len)
            return sf_trunc_msg(c, end, "truncated uuid"), NULL;
        c->pos = end;
        return sf_make_uuid(c->buf + end - 16);
    }
    case TT_STRING: return read_string(c, t->binary);
    case TT_STRUCT:
        if (hashable)
            return unhashable(t);
        return cpt_read_struct(c, t->plan, depth);
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

PyObject *cpt_read_struct(DCtx *c, StructPlan *p, long depth) {
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
    long long last = 0;
    for (;;) {
        if (c->pos >= c->len) {
            sf_trunc(c);
            goto fail;
        }
        int b = c->buf[c->pos++];
        if (b == 0)
            break;
        int ct = b & 0x0F;
        if (b >> 4) {
            last += b >> 4;
        } else {
            long id = 0;
            if (zz_i16(c, &id) < 0)
                goto fail;
            last = id;
        }
        Py_ssize_t i = sf_field_index(p, (unsigned)(last & 0xFFFF));
        FieldInfo *f = i >= 0 ? &p->fields[i] : NULL;
        if (f != NULL && f->type.ttype == TT_BOOL && (ct == CT_TRUE || ct == CT_FALSE)) {
            PyObject *v = ct == CT_TRUE ? Py_True : Py_False;
            Py_INCREF(v);
            Py_XSETREF(vals[i], v);
        } else if (f != NULL && f->type.ttype != TT_BOOL && f->type.ctype == ct) {
            PyObject *v;
            if (ct == CT_I32) {
                long x = 0;
                if (zz_i32(c, &x) < 0)
                    goto fail;
                v = PyLong_FromLong(x);
            } else if (ct == CT_BINARY) {
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
        } else if (ct != CT_TRUE && ct != CT_FALSE) {
            if (cpt_skip(c, ct, depth + 1) < 0)
                goto fail;
        }
    }
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

int cpt_skip(DCtx *c, int ct, long depth) {
    char t1[16];
    int size = fixed_size(ct);
    if (size) {
        Py_ssize_t end = c->pos + size;
        if (end > c->len)
            return sf_trunc_msg(c, end, "truncated %s", sf_ctype_name(ct, t1));
        c->pos = end;
        return 0;
    }
    uint64_t u = 0;
    int over;
    long long n = 0;
    if (ct == CT_I32 || ct == CT_I16)
        return read_u32(c, &u);
    if (ct == CT_I64)
        return read_varint(c, 10, &u, &over);
    if (ct == CT_BINARY) {
        if (read_size(c, "string length", &n) < 0)
            return -1;
        if (n > c->max_string)
            return sf_limit("string of %lld bytes exceeds max_string_size=%zd", n,
                            c->max_string);
        Py_ssize_t end = c->pos + (Py_ssize_t)n;
        if (end > c->len)
            return sf_trunc_msg(c, end, "truncated string: %lld bytes declared", n);
        c->pos = end;
        return 0;
    }
    if (depth > c->max_depth)
        return sf_limit("nesting deeper than max_depth=%ld", c->max_depth);
    if (ct != CT_STRUCT && ct != CT_LIST && ct != CT_SET && ct != CT_MAP)
        return sf_remote("invalid compact type id %d", ct);
    if (sf_enter(depth) < 0)
        return -1;
    int rc = -1;
    if (ct == CT_STRUCT) {
        for (;;) {
            if (c->pos >= c->len) {
                sf_trunc(c);
                goto done;
            }
            int b = c->buf[c->pos++];
            if (b == 0)
                break;
            int ft = b & 0x0F;
            if (!(b >> 4) && read_u32(c, &u) < 0)
                goto done;
            if (ft == CT_TRUE || ft == CT_FALSE)
                continue;
            if (cpt_skip(c, ft, depth + 1) < 0)
                goto done;
        }
    } else if (ct == CT_LIST || ct == CT_SET) {
        if (c->pos >= c->len) {
            sf_trunc(c);
            goto done;
        }
        int b = c->buf[c->pos++];
        n = b >> 4;
        if (n == 15 && read_size(c, "list size", &n) < 0)
            goto done;
        if (n != 0) {
            int et = b & 0x0F;
            int ms = min_size(et);
            if (!ms) {
                sf_remote("invalid compact type id %d", et);
                goto done;
            }
            if (check_count(c, "list", n, ms) < 0)
                goto done;
            int es = fixed_size(et);
            if (es) {
                c->pos += (Py_ssize_t)(n * es);
            } else {
                for (long long i = 0; i < n; i++)
                    if (cpt_skip(c, et, depth + 1) < 0)
                        goto done;
            }
        }
    } else {
        if (read_size(c, "map size", &n) < 0)
            goto done;
        if (n != 0) {
            if (c->pos >= c->len) {
                sf_trunc(c);
                goto done;
            }
            int b = c->buf[c->pos++];
            int kt = b >> 4, vt = b & 0x0F;
            int ks = min_size(kt);
            if (!ks) {
                sf_remote("invalid compact type id %d", kt);
                goto done;
            }
            int vs = min_size(vt);
            if (!vs) {
                sf_remote("invalid compact type id %d", vt);
                goto done;
            }
            if (check_count(c, "map", n, ks + vs) < 0)
                goto done;
            if (fixed_size(kt) && fixed_size(vt)) {
                c->pos += (Py_ssize_t)(n * (ks + vs));
            } else {
                for (long long i = 0; i < n; i++)
                    if (cpt_skip(c, kt, depth + 1) < 0 || cpt_skip(c, vt, depth + 1) < 0)
                        goto done;
            }
        }
    }
    rc = 0;
done:
    Py_LeaveRecursiveCall();
    return rc;
}

int cpt_envelope(DCtx *c, int decode_name, PyObject **name, int *mtype, long *seqid) {
    if (c->pos >= c->len || c->pos < 0)
        return sf_trunc(c);
    int proto = c->buf[c->pos];
    if (proto != 0x82)
        return sf_remote("bad protocol id 0x%02x (compact is 0x82)", proto);
    if (c->pos + 1 >= c->len)
        return sf_trunc(c);
    int b = c->buf[c->pos + 1];
    int version = b & 0x1F;
    if (version != 1)
        return sf_remote("bad version %d in compact message header", version);
    *mtype = b >> 5;
    if (*mtype < 1 || *mtype > 4)
        return sf_remote("invalid message type %d", *mtype);
    c->pos += 2;
    uint64_t u = 0;
    if (read_u32(c, &u) < 0)
        return -1;
    *seqid = u > (uint64_t)SF_MAX_I32 ? (long)((long long)u - (1LL << 32)) : (long)u;
    long long n = 0;
    if (read_size(c, "message name length", &n) < 0)
        return -1;
    return sf_read_name(c, n, decode_name, name);
}

/* ---- encoding ------------------------------------------------------------------------------ */

static inline int put_varint(OutBuf *b, uint64_t v) {
    if (ob_reserve(b, 10) < 0)
        return -1;
    char *p = b->data + b->len;
    int i = 0;
    while (v >= 0x80) {
        p[i++] = (char)((v & 0x7F) | 0x80);
        v >>= 7;
    }
    p[i++] = (char)v;
    b->len += i;
    return 0;
}

static inline uint64_t zigzag(long long v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

static int write_value(OutBuf *b, TypeInfo *t, PyObject *v);

static int write_bytes(OutBuf *b, PyObject *v, int text) {
    BytesView bv;
    if (sf_bytes_view(v, text, &bv) < 0)
        return -1;
    int r = put_varint(b, (uint64_t)bv.n);
    if (r == 0)
        r = ob_put(b, bv.p, bv.n);
    sf_view_release(&bv);
    return r;
}

static int write_list(OutBuf *b, TypeInfo *t, PyObject *v) {
    PyObject *seq = sf_as_sequence(v);
    if (seq == NULL)
        return -1;
    int rc = -1;
    Py_ssize_t n = PyObject_Length(seq);
    if (n < 0)
        goto done;
    int et = t->value->ctype;
    if (n < 15) {
        if (ob_byte(b, (unsigned char)(n << 4 | et)) < 0)
            goto done;
    } else if (ob_byte(b, (unsigned char)(0xF0 | et)) < 0 || put_varint(b, (uint64_t)n) < 0) {
        goto done;
    }
    if (PyList_CheckExact(seq) || PyTuple_CheckExact(seq)) {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (i >= PySequence_Fast_GET_SIZE(seq)) {
                sf_bad_value("sequence changed size during encoding");
                goto done;
            }
            PyObject *x = PySequence_Fast_ITEMS(seq)[i];
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
    int is_dict = PyDict_CheckExact(items);
    Py_ssize_t n = is_dict ? PyDict_GET_SIZE(items) : PyList_GET_SIZE(items);
    if (n == 0) {
        rc = ob_byte(b, 0);
        goto done;
    }
    if (put_varint(b, (uint64_t)n) < 0 ||
        ob_byte(b, (unsigned char)(t->key->ctype << 4 | t->value->ctype)) < 0)
        goto done;
    if (is_dict) {
        Py_ssize_t pos = 0, count = 0;
        PyObject *k, *x;
        while (PyDict_Next(items, &pos, &k, &x)) {
            /* See binary.c: the header's count is the most pairs we may write. */
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
    long long x;
    double d;
    int r;
    switch (t->ttype) {
    case TT_BOOL:
        if ((r = sf_as_bool(v)) < 0)
            return -1;
        return ob_byte(b, r ? CT_TRUE : CT_FALSE);
    case TT_BYTE:
        if (sf_as_int(v, -128, 127, &x) < 0)
            return -1;
        return ob_byte(b, (unsigned char)(signed char)x);
    case TT_I16:
        if (sf_as_int(v, -32768, 32767, &x) < 0)
            return -1;
        return put_varint(b, zigzag(x));
    case TT_I32:
        if (sf_as_int(v, -SF_MAX_I32 - 1, SF_MAX_I32, &x) < 0)
            return -1;
        return put_varint(b, zigzag(x));
    case TT_I64:
        if (sf_as_int(v, INT64_MIN, INT64_MAX, &x) < 0)
            return -1;
        return put_varint(b, zigzag(x));
    case TT_DOUBLE:
        if (sf_as_double(v, &d) < 0 || ob_reserve(b, 8) < 0)
            return -1;
        if (PyFloat_Pack8(d, b->data + b->len, 1) < 0)
            return -1;
        b->len += 8;
        return 0;
    case TT_STRING: return write_bytes(b, v, !t->binary);
    case TT_UUID: {
        PyObject *u = sf_uuid_bytes(v);
        if (u == NULL)
            return -1;
        r = ob_put(b, PyBytes_AS_STRING(u), 16);
        Py_DECREF(u);
        return r;
    }
    case TT_STRUCT:
        if (Py_TYPE(v) != t->plan->cls) {
            r = PyObject_IsInstance(v, (PyObject *)t->plan->cls);
            if (r <= 0)
                return r < 0 ? -1 : sf_bad_value("not an instance of the struct type");
        }
        return cpt_write_struct(b, t->plan, v);
    case TT_LIST: case TT_SET: return write_list(b, t, v);
    case TT_MAP: return write_map(b, t, v);
    default:
        PyErr_SetString(PyExc_TypeError, "cannot encode this type");
        return -1;
    }
}

int cpt_write_struct(OutBuf *b, StructPlan *p, PyObject *obj) {
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
    long last = 0;
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
        int ct = f->type.ctype;
        if (f->type.ttype == TT_BOOL) {
            int r = sf_as_bool(v);
            if (r < 0) {
                Py_DECREF(v);
                goto done;
            }
            ct = r ? CT_TRUE : CT_FALSE;
        }
        if (ob_reserve(b, 6) < 0) {
            Py_DECREF(v);
            goto done;
        }
        long fid = f->id;
        if (fid > 0 && fid - last > 0 && fid - last <= 15) {
            b->data[b->len++] = (char)((fid - last) << 4 | ct);
        } else {
            b->data[b->len++] = (char)ct;
            memcpy(b->data + b->len, f->zz_id, (size_t)f->zz_id_len);
            b->len += f->zz_id_len;
        }
        last = fid;
        int r = f->type.ttype == TT_BOOL ? 0 : write_value(b, &f->type, v);
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

int cpt_write_envelope(OutBuf *b, const char *name, Py_ssize_t n, int mtype, long seqid) {
    if (ob_byte(b, 0x82) < 0 || ob_byte(b, (unsigned char)(1 | mtype << 5)) < 0 ||
        put_varint(b, (uint64_t)((uint32_t)seqid)) < 0 || put_varint(b, (uint64_t)n) < 0)
        return -1;
    return ob_put(b, name, n);
}
