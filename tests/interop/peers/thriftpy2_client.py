"""ThriftTest client built on thriftpy2, which loads the IDL text at run time.

Run: ``python thriftpy2_client.py --idl ThriftTest.thrift --protocol binary --transport framed
--port N``. Runs the shared check table (thrifttest_checks.py); exit status 0 means every
check passed.
"""

from __future__ import annotations

from common import finish, parse_args
from thrifttest_checks import run_checks


def main() -> None:
    args = parse_args("client", needs="idl")

    import thriftpy2
    from thriftpy2.protocol import (
        TApacheJSONProtocolFactory,
        TBinaryProtocolFactory,
        TCompactProtocolFactory,
    )
    from thriftpy2.rpc import make_client
    from thriftpy2.thrift import TApplicationException
    from thriftpy2.transport import TBufferedTransportFactory, TFramedTransportFactory

    tt = thriftpy2.load(args.idl, module_name="ThriftTest_thrift")
    client = make_client(
        tt.ThriftTest,
        args.host,
        args.port,
        proto_factory={
            "binary": TBinaryProtocolFactory,
            "compact": TCompactProtocolFactory,
            "json": TApacheJSONProtocolFactory,
        }[args.protocol](),
        trans_factory={"buffered": TBufferedTransportFactory, "framed": TFramedTransportFactory}[
            args.transport
        ](),
        timeout=10_000,
    )
    try:
        failures = run_checks(
            client,
            tt,
            TApplicationException,
            set_type=list,
            log=args.verbose,
            finite_doubles_only=args.finite_doubles_only,
        )
    finally:
        client.close()
    finish(failures)


if __name__ == "__main__":
    main()
