"""Drive Apache Thrift's pure-Python protocols from our specs (differential-test helper).

``apache_encode`` writes a value through Apache's protocol API (writeStructBegin,
writeFieldBegin, writeI32, ...) on a TMemoryBuffer; ``apache_decode`` reads it back through
readFieldBegin/readI32/... and ``skip``. Neither uses swordfish's codec, so comparing bytes and
values with it is real interop evidence.
"""

from __future__ import annotations

from typing import Any

from swordfish.model import MessageType, TType, TypeSpec

_HASHABLE = {
    TType.BOOL,
    TType.BYTE,
    TType.I16,
    TType.I32,
    TType.I64,
    TType.DOUBLE,
    TType.STRING,
    TType.UUID,
}


def protocol(thrift: Any, name: str, trans: Any, *, strict_write: bool = True) -> Any:
    if name == "binary":
        from thrift.protocol.TBinaryProtocol import TBinaryProtocol

        return TBinaryProtocol(trans, strictRead=False, strictWrite=strict_write)
    from thrift.protocol.TCompactProtocol import TCompactProtocol

    return TCompactProtocol(trans)


def _write(p: Any, ts: TypeSpec, v: Any) -> None:
    t = ts.ttype
    if t == TType.BOOL:
        p.writeBool(v)
    elif t == TType.BYTE:
        p.writeByte(v)
    elif t == TType.I16:
        p.writeI16(v)
    elif t == TType.I32:
        p.writeI32(v)
    elif t == TType.I64:
        p.writeI64(v)
    elif t == TType.DOUBLE:
        p.writeDouble(v)
    elif t == TType.STRING:
        if ts.binary:
            p.writeBinary(v)
        else:
            p.writeString(v)
    elif t == TType.UUID:
        p.writeUuid(v)
    elif t == TType.STRUCT:
        write_struct(p, v)
    elif t in (TType.LIST, TType.SET):
        assert ts.value is not None
        begin, end = (
            (p.writeListBegin, p.writeListEnd)
            if t == TType.LIST
            else (p.writeSetBegin, p.writeSetEnd)
        )
        items = list(v)
        begin(ts.value.ttype, len(items))
        for x in items:
            _write(p, ts.value, x)
        end()
    elif t == TType.MAP:
        assert ts.key is not None and ts.value is not None
        p.writeMapBegin(ts.key.ttype, ts.value.ttype, len(v))
        for k, x in v.items():
            _write(p, ts.key, k)
            _write(p, ts.value, x)
        p.writeMapEnd()
    else:
        raise AssertionError(t)


def write_struct(p: Any, obj: Any) -> None:
    spec = type(obj).__thrift_spec__
    p.writeStructBegin(spec.name)
    for f in spec.fields:
        v = getattr(obj, f.name)
        if v is None:
            continue
        p.writeFieldBegin(f.name, f.type.ttype, f.id)
        _write(p, f.type, v)
        p.writeFieldEnd()
    p.writeFieldStop()
    p.writeStructEnd()


def _read(p: Any, ts: TypeSpec, hashable: bool = False) -> Any:
    t = ts.ttype
    if t == TType.BOOL:
        return p.readBool()
    if t == TType.BYTE:
        return p.readByte()
    if t == TType.I16:
        return p.readI16()
    if t == TType.I32:
        return p.readI32()
    if t == TType.I64:
        return p.readI64()
    if t == TType.DOUBLE:
        return p.readDouble()
    if t == TType.STRING:
        return p.readBinary() if ts.binary else p.readString()
    if t == TType.UUID:
        return p.readUuid()
    if t == TType.STRUCT:
        assert ts.struct is not None
        return read_struct(p, ts.struct)
    if t in (TType.LIST, TType.SET):
        assert ts.value is not None
        begin, end = (
            (p.readListBegin, p.readListEnd) if t == TType.LIST else (p.readSetBegin, p.readSetEnd)
        )
        as_set = t == TType.SET and (hashable or ts.value.ttype in _HASHABLE)
        _, n = begin()
        items = [_read(p, ts.value, hashable or as_set) for _ in range(n)]
        end()
        if as_set:
            return frozenset(items) if hashable else set(items)
        return tuple(items) if hashable else items
    assert t == TType.MAP and ts.key is not None and ts.value is not None
    _, _, n = p.readMapBegin()
    result = {}
    for _ in range(n):
        k = _read(p, ts.key, True)
        result[k] = _read(p, ts.value)
    p.readMapEnd()
    return result


def read_struct(p: Any, cls: type) -> Any:
    spec = cls.__thrift_spec__  # type: ignore[attr-defined]
    obj = cls()
    for f in spec.fields:  # decoders leave unread fields None (no defaults), as ours do
        setattr(obj, f.name, None)
    p.readStructBegin()
    while True:
        _, ttype, fid = p.readFieldBegin()
        if ttype == TType.STOP:
            break
        f = spec.by_id.get(fid)
        if f is None or f.type.ttype != ttype:
            p.skip(ttype)
        else:
            setattr(obj, f.name, _read(p, f.type))
        p.readFieldEnd()
    p.readStructEnd()
    return obj


def apache_encode(thrift: Any, proto: str, obj: Any, *, strict_write: bool = True) -> bytes:
    from thrift.transport.TTransport import TMemoryBuffer

    buf = TMemoryBuffer()
    write_struct(protocol(thrift, proto, buf, strict_write=strict_write), obj)
    return bytes(buf.getvalue())


def apache_decode(thrift: Any, proto: str, cls: type, data: bytes) -> Any:
    from thrift.transport.TTransport import TMemoryBuffer

    buf = TMemoryBuffer(data)
    obj = read_struct(protocol(thrift, proto, buf), cls)
    assert buf.read(1) == b"", "Apache left bytes unread"
    return obj


def apache_encode_message(
    thrift: Any,
    proto: str,
    name: str,
    mtype: MessageType,
    seqid: int,
    obj: Any,
    *,
    strict_write: bool = True,
) -> bytes:
    from thrift.transport.TTransport import TMemoryBuffer

    buf = TMemoryBuffer()
    p = protocol(thrift, proto, buf, strict_write=strict_write)
    p.writeMessageBegin(name, int(mtype), seqid)
    write_struct(p, obj)
    p.writeMessageEnd()
    return bytes(buf.getvalue())


def apache_decode_message(thrift: Any, proto: str, cls: type, data: bytes) -> Any:
    from thrift.transport.TTransport import TMemoryBuffer

    buf = TMemoryBuffer(data)
    p = protocol(thrift, proto, buf)
    name, mtype, seqid = p.readMessageBegin()
    body = read_struct(p, cls)
    p.readMessageEnd()
    return name, mtype, seqid, body


__all__ = [
    "apache_decode",
    "apache_decode_message",
    "apache_encode",
    "apache_encode_message",
]
