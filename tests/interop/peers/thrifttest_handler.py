"""The ThriftTest service's reference behaviour, written once for every implementation.

Each implementation (Swordfish, Apache's generated code, thriftpy2) subclasses
``ThriftTestHandler`` and says only what differs: where its generated types live
(``types``) and how it makes the server answer with a ``TApplicationException``
(``fail_generic``). Parameter names follow the IDL, so servers that call handlers with
keyword arguments and servers that call them positionally both work.

The semantics are the ones documented in ThriftTest.thrift; the numbers (1001, 2002) and
strings ("This is an Xception") are the cross-language test suite's contract.
"""

from __future__ import annotations

import time
from typing import Any


class ThriftTestHandler:
    #: Namespace holding Xtruct, Xtruct2, Insanity, Xception, Xception2 for this implementation.
    types: Any = None

    def fail_generic(self, arg: str) -> None:
        """Raise whatever this implementation turns into a TApplicationException reply."""
        raise NotImplementedError

    def testVoid(self) -> None:
        return None

    def testString(self, thing: str) -> str:
        return thing

    def testBool(self, thing: bool) -> bool:
        return thing

    def testByte(self, thing: int) -> int:
        return thing

    def testI32(self, thing: int) -> int:
        return thing

    def testI64(self, thing: int) -> int:
        return thing

    def testDouble(self, thing: float) -> float:
        return thing

    def testBinary(self, thing: bytes) -> bytes:
        return thing

    def testUuid(self, thing: Any) -> Any:
        return thing

    def testStruct(self, thing: Any) -> Any:
        return thing

    def testNest(self, thing: Any) -> Any:
        return thing

    def testMap(self, thing: dict[int, int]) -> dict[int, int]:
        return thing

    def testStringMap(self, thing: dict[str, str]) -> dict[str, str]:
        return thing

    def testSet(self, thing: set[int]) -> set[int]:
        return thing

    def testList(self, thing: list[int]) -> list[int]:
        return thing

    def testEnum(self, thing: int) -> int:
        return thing

    def testTypedef(self, thing: int) -> int:
        return thing

    def testMapMap(self, hello: int) -> dict[int, dict[int, int]]:
        return {-4: {-4: -4, -3: -3, -2: -2, -1: -1}, 4: {1: 1, 2: 2, 3: 3, 4: 4}}

    def testInsanity(self, argument: Any) -> dict[int, dict[int, Any]]:
        # 2 = Numberz.TWO, 3 = Numberz.THREE, 6 = Numberz.SIX.
        return {1: {2: argument, 3: argument}, 2: {6: self.types.Insanity()}}

    def testMulti(
        self,
        arg0: int,
        arg1: int,
        arg2: int,
        arg3: dict[int, str],
        arg4: int,
        arg5: int,
    ) -> Any:
        return self.types.Xtruct(
            string_thing="Hello2", byte_thing=arg0, i32_thing=arg1, i64_thing=arg2
        )

    def testException(self, arg: str) -> None:
        if arg == "Xception":
            raise self.types.Xception(errorCode=1001, message=arg)
        if arg == "TException":
            self.fail_generic(arg)
        return None

    def testMultiException(self, arg0: str, arg1: str) -> Any:
        t = self.types
        if arg0 == "Xception":
            raise t.Xception(errorCode=1001, message="This is an Xception")
        if arg0 == "Xception2":
            raise t.Xception2(
                errorCode=2002, struct_thing=t.Xtruct(string_thing="This is an Xception2")
            )
        return t.Xtruct(string_thing=arg1)

    def testOneway(self, secondsToSleep: int) -> None:
        time.sleep(secondsToSleep)
