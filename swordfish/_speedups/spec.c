/* StructPlan: a struct class's StructSpec compiled once into a C field table.
 *
 * The plan is a GC-tracked object stored in the class's own __dict__ under "_sf_cplan" (never
 * inherited, never replaced: specs are immutable). It holds strong references to the plans
 * of the struct types its fields use, so recursive types form an ordinary reference cycle the
 * garbage collector can reclaim when an IDL module is dropped. Recursive types are compiled
 * with a private "pending" table and published only when complete, so another thread never
 * sees a half-built plan (the same rule as the Python codecs' plan cache).
 */
#include "speedups.h"
#include <structmember.h>

static void typeinfo_clear(TypeInfo *t) {
    if (t->key) {
        typeinfo_clear(t->key);
        PyMem_Free(t->key);
        t->key = NULL;
    }
    if (t->value) {
        typeinfo_clear(t->value);
        PyMem_Free(t->value);
        t->value = NULL;
    }
    Py_CLEAR(t->plan);
    Py_CLEAR(t->desc);
}

static int typeinfo_traverse(TypeInfo *t, visitproc visit, void *arg) {
    if (t->key && typeinfo_traverse(t->key, visit, arg))
        return 1;
    if (t->value && typeinfo_traverse(t->value, visit, arg))
        return 1;
    Py_VISIT(t->plan);
    return 0;
}

static int plan_traverse(StructPlan *p, visitproc visit, void *arg) {
    Py_VISIT(p->cls);
    Py_VISIT(p->spec);
    for (Py_ssize_t i = 0; i < p->nfields; i++) {
        Py_VISIT(p->fields[i].dflt);
        if (typeinfo_traverse(&p->fields[i].type, visit, arg))
            return 1;
    }
    return 0;
}

static int plan_clear(StructPlan *p) {
    Py_CLEAR(p->cls);
    Py_CLEAR(p->spec);
    Py_CLEAR(p->name);
    if (p->fields) {
        for (Py_ssize_t i = 0; i < p->nfields; i++) {
            Py_CLEAR(p->fields[i].name);
            Py_CLEAR(p->fields[i].dflt);
            typeinfo_clear(&p->fields[i].type);
        }
        PyMem_Free(p->fields);
        p->fields = NULL;
    }
    p->nfields = 0;
    PyMem_Free(p->lookup);
    p->lookup = NULL;
    p->nlookup = 0;
    return 0;
}

static void plan_dealloc(StructPlan *p) {
    PyObject_GC_UnTrack(p);
    plan_clear(p);
    PyObject_GC_Del(p);
}

static PyObject *plan_repr(StructPlan *p) {
    return PyUnicode_FromFormat("<swordfish C plan for %S (%zd fields)>",
                                p->name ? p->name : Py_None, p->nfields);
}

PyTypeObject StructPlan_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "swordfish._speedups.StructPlan",
    .tp_basicsize = sizeof(StructPlan),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Compiled field table of one struct class (internal).",
    .tp_dealloc = (destructor)plan_dealloc,
    .tp_traverse = (traverseproc)plan_traverse,
    .tp_clear = (inquiry)plan_clear,
    .tp_repr = (reprfunc)plan_repr,
};

static StructPlan *compile_plan(PyObject *cls, PyObject *pending);

static int ctype_of(int ttype) {
    switch (ttype) {
    case TT_BOOL: return CT_TRUE;
    case TT_BYTE: return CT_BYTE;
    case TT_I16: return CT_I16;
    case TT_I32: return CT_I32;
    case TT_I64: return CT_I64;
    case TT_DOUBLE: return CT_DOUBLE;
    case TT_STRING: return CT_BINARY;
    case TT_LIST: return CT_LIST;
    case TT_SET: return CT_SET;
    case TT_MAP: return CT_MAP;
    case TT_STRUCT: return CT_STRUCT;
    case TT_UUID: return CT_UUID;
    default: return -1;
    }
}

static int is_hashable_ttype(int t) {
    return t == TT_BOOL || t == TT_BYTE || t == TT_I16 || t == TT_I32 || t == TT_I64 ||
           t == TT_DOUBLE || t == TT_STRING || t == TT_UUID;
}

static long long_attr(PyObject *obj, const char *name) {
    PyObject *v = PyObject_GetAttrString(obj, name);
    if (v == NULL)
        return -1;
    long r = PyLong_AsLong(v);
    Py_DECREF(v);
    return r;
}

/* Fill *t from a TypeSpec. Any unsupported shape is an error: the caller then lets the
 * Python codec run, which raises the reference error for it. */
static int compile_type(TypeInfo *t, PyObject *ts, PyObject *pending) {
    memset(t, 0, sizeof(*t));
    long tt = long_attr(ts, "ttype");
    if (tt == -1 && PyErr_Occurred())
        return -1;
    t->ttype = (int)tt;
    t->ctype = ctype_of(t->ttype);
    if (t->ctype < 0) {
        PyErr_Format(sf_LocalProtocolError, "unsupported type id %ld", tt);
        return -1;
    }
    t->desc = PyObject_CallMethod(ts, "describe", NULL);
    if (t->desc == NULL)
        return -1;
    if (t->ttype == TT_STRING) {
        PyObject *b = PyObject_GetAttrString(ts, "binary");
        if (b == NULL)
            return -1;
        t->binary = PyObject_IsTrue(b);
        Py_DECREF(b);
        if (t->binary < 0)
            return -1;
    } else if (t->ttype == TT_STRUCT) {
        PyObject *cls = PyObject_GetAttrString(ts, "struct");
        if (cls == NULL)
            return -1;
        if (!PyType_Check(cls)) {
            Py_DECREF(cls);
            PyErr_SetString(sf_LocalProtocolError, "struct type has no class");
            return -1;
        }
        t->plan = compile_plan(cls, pending);
        Py_DECREF(cls);
        if (t->plan == NULL)
            return -1;
    } else if (t->ttype == TT_LIST || t->ttype == TT_SET || t->ttype == TT_MAP) {
        PyObject *v = PyObject_GetAttrString(ts, "value");
        if (v == NULL)
            return -1;
        if (v == Py_None) {
            Py_DECREF(v);
            PyErr_SetString(sf_LocalProtocolError, "container type without element type");
            return -1;
        }
        t->value = PyMem_Calloc(1, sizeof(TypeInfo));
        if (t->value == NULL) {
            Py_DECREF(v);
            PyErr_NoMemory();
            return -1;
        }
        int r = compile_type(t->value, v, pending);
        Py_DECREF(v);
        if (r < 0)
            return -1;
        t->elem_hashable = is_hashable_ttype(t->value->ttype);
        if (t->ttype == TT_MAP) {
            PyObject *k = PyObject_GetAttrString(ts, "key");
            if (k == NULL)
                return -1;
            if (k == Py_None) {
                Py_DECREF(k);
                PyErr_SetString(sf_LocalProtocolError, "map type without key type");
                return -1;
            }
            t->key = PyMem_Calloc(1, sizeof(TypeInfo));
            if (t->key == NULL) {
                Py_DECREF(k);
                PyErr_NoMemory();
                return -1;
            }
            r = compile_type(t->key, k, pending);
            Py_DECREF(k);
            if (r < 0)
                return -1;
        }
    }
    return 0;
}

/* Slot offset of attribute `name`, or -1 when it is not a plain writable object slot. */
static Py_ssize_t slot_offset(PyTypeObject *cls, PyObject *name) {
    if (cls->tp_setattro != PyObject_GenericSetAttr ||
        cls->tp_getattro != PyObject_GenericGetAttr)
        return -1;
    PyObject *d = _PyType_Lookup(cls, name); /* borrowed */
    if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type))
        return -1;
    PyMemberDescrObject *md = (PyMemberDescrObject *)d;
    if (md->d_member->type != T_OBJECT_EX || (md->d_member->flags & READONLY))
        return -1;
    if (!PyType_IsSubtype(cls, md->d_common.d_type))
        return -1;
    if (md->d_member->offset <= 0 || md->d_member->offset >= cls->tp_basicsize)
        return -1;
    return md->d_member->offset;
}

static int fill_plan(StructPlan *p, PyObject *cls, PyObject *pending) {
    PyTypeObject *tp = (PyTypeObject *)cls;
    p->spec = PyObject_GetAttrString(cls, "__thrift_spec__");
    if (p->spec == NULL)
        return -1;
    if (p->spec == Py_None) {
        PyErr_Format(sf_LocalProtocolError, "%s has no bound spec", tp->tp_name);
        return -1;
    }
    p->name = PyObject_GetAttrString(cls, "__name__");
    if (p->name == NULL)
        return -1;
    long kind = long_attr(p->spec, "kind");
    if (kind == -1 && PyErr_Occurred())
        return -1;
    p->is_union = kind == 1;
    PyObject *fields = PyObject_GetAttrString(p->spec, "fields");
    if (fields == NULL)
        return -1;
    PyObject *init = PyObject_GetAttrString(cls, "_sf_init");
    if (init == NULL) {
        Py_DECREF(fields);
        return -1;
    }
    int rc = -1;
    if (!PyTuple_Check(fields) || !PyTuple_Check(init) ||
        PyTuple_GET_SIZE(fields) != PyTuple_GET_SIZE(init)) {
        PyErr_SetString(sf_LocalProtocolError, "spec fields do not match _sf_init");
        goto done;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    p->fields = PyMem_Calloc(n ? (size_t)n : 1, sizeof(FieldInfo));
    if (p->fields == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    p->nfields = n;
    int maxkey = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        FieldInfo *f = &p->fields[i];
        PyObject *fs = PyTuple_GET_ITEM(fields, i);
        PyObject *in = PyTuple_GET_ITEM(init, i);
        f->name = PyObject_GetAttrString(fs, "name");
        if (f->name == NULL)
            goto done;
        if (!PyUnicode_Check(f->name)) {
            PyErr_SetString(PyExc_TypeError, "field name must be str");
            goto done;
        }
        PyUnicode_InternInPlace(&f->name);
        f->id = long_attr(fs, "id");
        if (f->id == -1 && PyErr_Occurred())
            goto done;
        if (f->id < -32768 || f->id > 32767) {
            PyErr_Format(sf_LocalProtocolError, "field id %ld out of i16 range", f->id);
            goto done;
        }
        f->key16 = (uint16_t)(f->id & 0xFFFF);
        uint32_t z = (uint32_t)((f->id << 1) ^ (f->id >> 31));
        f->zz_id_len = 0;
        do {
            unsigned char byte = z & 0x7F;
            z >>= 7;
            f->zz_id[f->zz_id_len++] = byte | (z ? 0x80 : 0);
        } while (z);
        long req = long_attr(fs, "requiredness");
        if (req == -1 && PyErr_Occurred())
            goto done;
        f->required = req == 1;
        PyObject *ts = PyObject_GetAttrString(fs, "type");
        if (ts == NULL)
            goto done;
        int r = compile_type(&f->type, ts, pending);
        Py_DECREF(ts);
        if (r < 0)
            goto done;
        if (!PyTuple_Check(in) || PyTuple_GET_SIZE(in) != 3) {
            PyErr_SetString(PyExc_TypeError, "_sf_init entries must be 3-tuples");
            goto done;
        }
        PyObject *dflt = PyTuple_GET_ITEM(in, 1);
        if (dflt != Py_None) {
            Py_INCREF(dflt);
            f->dflt = dflt;
            f->dflt_mutable = PyObject_IsTrue(PyTuple_GET_ITEM(in, 2));
            if (f->dflt_mutable < 0)
                goto done;
        }
        f->offset = slot_offset(tp, f->name);
        if (f->key16 < 1024 && (int)f->key16 > maxkey)
            maxkey = f->key16;
    }
    if (maxkey >= 0) {
        p->lookup = PyMem_Malloc(sizeof(int16_t) * (size_t)(maxkey + 1));
        if (p->lookup == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (int k = 0; k <= maxkey; k++)
            p->lookup[k] = -1;
        for (Py_ssize_t i = n - 1; i >= 0; i--)
            if (p->fields[i].key16 <= maxkey)
                p->lookup[p->fields[i].key16] = (int16_t)i;
        p->nlookup = maxkey + 1;
    }
    rc = 0;
done:
    Py_DECREF(fields);
    Py_DECREF(init);
    return rc;
}

static StructPlan *cached_plan(PyObject *cls) {
    PyObject *d = ((PyTypeObject *)cls)->tp_dict;
    if (d == NULL)
        return NULL;
    PyObject *p = PyDict_GetItemWithError(d, sf_str_plan_attr);
    if (p != NULL && Py_IS_TYPE(p, &StructPlan_Type)) {
        Py_INCREF(p);
        return (StructPlan *)p;
    }
    return NULL;
}

static StructPlan *compile_plan(PyObject *cls, PyObject *pending) {
    StructPlan *p = cached_plan(cls);
    if (p != NULL || PyErr_Occurred())
        return p;
    PyObject *pp = PyDict_GetItemWithError(pending, cls);
    if (pp != NULL) {
        Py_INCREF(pp);
        return (StructPlan *)pp;
    }
    if (PyErr_Occurred())
        return NULL;
    p = PyObject_GC_New(StructPlan, &StructPlan_Type);
    if (p == NULL)
        return NULL;
    p->cls = (PyTypeObject *)cls;
    Py_INCREF(cls);
    p->spec = NULL;
    p->name = NULL;
    p->is_union = 0;
    p->nfields = 0;
    p->fields = NULL;
    p->nlookup = 0;
    p->lookup = NULL;
    PyObject_GC_Track(p);
    /* Registered before its fields are compiled: a recursive field finds it here. */
    if (PyDict_SetItem(pending, cls, (PyObject *)p) < 0 || fill_plan(p, cls, pending) < 0) {
        Py_DECREF(p);
        return NULL;
    }
    return p;
}

StructPlan *sf_plan_for(PyObject *cls) {
    if (!PyType_Check(cls)) {
        PyErr_Format(PyExc_TypeError, "expected a struct class, got %.100s",
                     Py_TYPE(cls)->tp_name);
        return NULL;
    }
    StructPlan *p = cached_plan(cls);
    if (p != NULL || PyErr_Occurred())
        return p;
    PyObject *pending = PyDict_New();
    if (pending == NULL)
        return NULL;
    p = compile_plan(cls, pending);
    if (p == NULL) {
        /* Break the cycles among the half-built plans before dropping them. */
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        while (PyDict_Next(pending, &pos, &k, &v))
            plan_clear((StructPlan *)v);
        Py_DECREF(pending);
        return NULL;
    }
    Py_DECREF(p);
    /* Publish every plan of this compilation; keep a plan another thread published first. */
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(pending, &pos, &k, &v)) {
        PyObject *d = ((PyTypeObject *)k)->tp_dict;
        PyObject *have = PyDict_GetItemWithError(d, sf_str_plan_attr);
        if (have == NULL && !PyErr_Occurred()) {
            if (PyObject_SetAttr(k, sf_str_plan_attr, v) < 0) {
                Py_DECREF(pending);
                return NULL;
            }
        } else if (PyErr_Occurred()) {
            Py_DECREF(pending);
            return NULL;
        }
    }
    Py_DECREF(pending);
    p = cached_plan(cls);
    if (p == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_RuntimeError, "struct plan was not published");
    return p;
}
