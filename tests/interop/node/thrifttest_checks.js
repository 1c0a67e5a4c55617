"use strict";
/**
 * The ThriftTest client check table, ported from tests/interop/peers/thrifttest_checks.py
 * so the Node.js client is held to the same calls, edge values and expected answers as the
 * Apache, thriftpy2 and Swordfish clients.
 *
 * Values are compared through `show()`, a canonical text form that keeps every distinction
 * the Python table makes: i64 (node-int64 `Int64`, shown as a BigInt `5n`) is not i32 (a
 * number `5`), -0 is not 0, NaN equals NaN, binary must come back as a Buffer, and a struct
 * field that was unset must come back unset (null). Every check runs even when an earlier
 * one failed; `runChecks` resolves to the list of failures.
 *
 * JavaScript has no keyword arguments, so the Python table's two by-keyword calls
 * (testString, testMulti) are made positionally here.
 */

const I8 = [-(2 ** 7), 2 ** 7 - 1];
const I16 = [-(2 ** 15), 2 ** 15 - 1];
const I32 = [-(2 ** 31), 2 ** 31 - 1];
const I64 = [-(2n ** 63n), 2n ** 63n - 1n];

const STRINGS = [
  "",
  "Hello, world",
  "\x00nul inside\x00",
  "Latin-1 àéîõü, Cyrillic Жизнь, CJK 中文, RTL עברית",
  "non-BMP: \u{1F600} \u{1D11E} \u{10348}",
  "long " + "\u00e9\u{1F40D}".repeat(50000), // ~300 KB of UTF-8: several reads and refills
];
const DOUBLES = [
  0.0,
  -0.0,
  1.0,
  -5.25,
  3.141592653589793,
  1.7976931348623157e308,
  -1.7976931348623157e308,
  5e-324, // smallest subnormal
  2.2250738585072014e-308, // smallest normal
  Infinity,
  -Infinity,
  NaN,
];

function byteRange(from, to, step) {
  const out = [];
  for (let b = from; step > 0 ? b < to : b > to; b += step) out.push(b);
  return Buffer.from(out);
}
const BINARIES = [
  Buffer.alloc(0),
  byteRange(0, 256, 1),
  Buffer.concat(Array(300).fill(byteRange(255, -1, -1))),
  Buffer.from([0xff, 0xfe, 0x00, 0x80]),
];

const CALL_TIMEOUT_MS = 30000;

function range(from, to) {
  const out = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

/**
 * Canonical text of a value. Int64 and BigInt print alike (`-5n`) so an expected i64 can be
 * written as either; numbers print with their sign of zero. Maps (plain objects, whose keys
 * are always strings in JS) and generated structs (their prototype is a plain object too)
 * print every key, sorted, so a struct shows each field, an unset one as `null`. Objects
 * with a constructor of their own (errors) print its name and their fields in order.
 */
function show(value, Int64) {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  switch (typeof value) {
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return String(value);
    default:
      break;
  }
  if (value instanceof Int64) return `${BigInt.asIntN(64, BigInt(`0x${value.toOctetString()}`))}n`;
  if (Buffer.isBuffer(value)) return `Buffer<${value.toString("hex")}>`;
  if (Array.isArray(value)) return `[${value.map((v) => show(v, Int64)).join(", ")}]`;
  const ctor = value.constructor;
  if (ctor && ctor !== Object) {
    const fields = Object.keys(value).filter((k) => k !== "name" && k !== "stack");
    return `${ctor.name}{${fields.map((k) => `${k}: ${show(value[k], Int64)}`).join(", ")}}`;
  }
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${show(value[k], Int64)}`).join(", ")}}`;
}

function short(text, limit = 160) {
  return text.length <= limit ? text : `${text.slice(0, limit)}...<${text.length} chars>`;
}

function describeError(err, Int64) {
  if (err === null || err === undefined || typeof err !== "object") {
    return `${typeof err} ${JSON.stringify(err)}`;
  }
  const fields = show(err, Int64); // a Thrift exception: its class name and fields
  return err.message !== undefined ? `${fields} (message: ${JSON.stringify(err.message)})` : fields;
}

class Checker {
  constructor(client, connection, thrift, log) {
    this.client = client;
    this.connection = connection;
    this.thrift = thrift;
    this.Int64 = thrift.Int64;
    this.log = log;
    this.failures = [];
    this.passed = 0;
    this.connectionError = null;
    this.pending = null;
    // A broken connection fails the call in flight at once instead of waiting for the
    // per-call timeout; the error is also reported with the next calls.
    const broken = (err) => {
      this.connectionError = err || new Error("connection closed");
      if (this.pending) this.pending(this.connectionError);
    };
    connection.on("error", broken);
    connection.on("close", () => broken(new Error("connection closed by the server")));
  }

  fail(what, detail) {
    this.failures.push(`${what}: ${detail}`);
    if (this.log) process.stdout.write(`FAIL ${what}: ${detail}\n`);
  }

  /** Call a method; resolves to [ok, result or error]. Never rejects. */
  call(method, args) {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.pending = null;
        resolve(outcome);
      };
      const timer = setTimeout(
        () => settle([false, new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)]),
        CALL_TIMEOUT_MS,
      );
      if (this.connectionError && method !== "testOneway") {
        settle([false, this.connectionError]);
        return;
      }
      this.pending = (err) => settle([false, err]);
      try {
        this.client[method](...args, (err, result) => {
          if (err !== null && err !== undefined) settle([false, err]);
          else settle([true, result]);
        });
      } catch (err) {
        settle([false, err]);
      }
    });
  }

  what(method, args) {
    return `${method}(${args.map((a) => short(show(a, this.Int64), 60)).join(", ")})`;
  }

  async expect(method, args, want, same) {
    const what = this.what(method, args);
    const [ok, got] = await this.call(method, args);
    if (!ok) {
      this.fail(what, `raised ${describeError(got, this.Int64)}`);
      return;
    }
    const problem = same ? same(got, want) : this.sameShown(got, want);
    if (problem) {
      this.fail(what, problem);
      return;
    }
    this.passed += 1;
  }

  sameShown(got, want) {
    const g = show(got, this.Int64);
    const w = show(want, this.Int64);
    return g === w ? null : `returned ${short(g)}, want ${short(w)}`;
  }

  /** i64 results must arrive as Int64 (not a rounded JS number). */
  sameI64(got, want) {
    if (!(got instanceof this.Int64)) return `returned ${show(got, this.Int64)}, want an Int64`;
    return this.sameShown(got, want);
  }

  /** `errorName`: for messages (generated exception classes are anonymous functions). */
  async expectRaises(method, args, ErrorClass, errorName, check) {
    const what = this.what(method, args);
    const [ok, got] = await this.call(method, args);
    if (ok) {
      this.fail(what, `returned ${short(show(got, this.Int64))}, want ${errorName} raised`);
      return;
    }
    if (!(got instanceof ErrorClass)) {
      this.fail(what, `raised ${describeError(got, this.Int64)}, want ${errorName}`);
      return;
    }
    const problem = check ? check(got) : null;
    if (problem) {
      this.fail(what, problem);
      return;
    }
    this.passed += 1;
  }
}

function fieldProblems(err, want, Int64) {
  const wrong = Object.entries(want)
    .filter(([name, value]) => show(err[name], Int64) !== show(value, Int64))
    .map(([name, value]) => `${name}=${show(err[name], Int64)} (want ${show(value, Int64)})`);
  return wrong.length ? wrong.join(", ") : null;
}

/**
 * Run every ThriftTest method with edge values; resolves to the failures (empty = all good).
 *
 * options.genericErrorType: the TApplicationException type the server answers an undeclared
 *   handler error with (Swordfish: 6, INTERNAL_ERROR; the Node server: 0, UNKNOWN).
 * options.finiteDoublesOnly: leave NaN and the infinities out of testDouble.
 * options.signedZero: false leaves -0.0 out of testDouble.
 */
async function runChecks(client, connection, thrift, ttypes, options) {
  const c = new Checker(client, connection, thrift, options.log);
  try {
    await run(c, thrift, ttypes, options);
  } catch (err) {
    c.failures.push(`check table crashed:\n${err && err.stack ? err.stack : err}`);
  }
  if (options.log) {
    process.stdout.write(`${c.passed} passed, ${c.failures.length} failed\n`);
  }
  return c.failures;
}

async function run(c, thrift, t, options) {
  const Int64 = thrift.Int64;
  const i64 = (v) => thrift.fromBigInt(BigInt(v));
  const sameI64 = (got, want) => c.sameI64(got, want);
  const TApplicationException = thrift.Thrift.TApplicationException;

  await c.expect("testVoid", [], undefined, (got) =>
    got === undefined || got === null ? null : `returned ${show(got, Int64)}, want nothing`,
  );

  for (const s of STRINGS) await c.expect("testString", [s], s);
  await c.expect("testString", ["by keyword"], "by keyword");

  await c.expect("testBool", [true], true);
  await c.expect("testBool", [false], false);

  for (const v of [...I8, 0, -1, 1]) await c.expect("testByte", [v], v);
  for (const v of [...I32, 0, -1, 1, 2 ** 16]) await c.expect("testI32", [v], v);
  for (const v of [...I64, 0n, -1n, 2n ** 32n, -(2n ** 53n) - 1n]) {
    await c.expect("testI64", [i64(v)], v, sameI64);
  }
  for (const d of DOUBLES) {
    if (options.finiteDoublesOnly && !Number.isFinite(d)) continue;
    if (!options.signedZero && Object.is(d, -0)) continue;
    await c.expect("testDouble", [d], d, (got, want) =>
      typeof got === "number" && Object.is(got, want)
        ? null
        : `returned ${show(got, Int64)}, want ${show(want, Int64)}`,
    );
  }
  for (const b of BINARIES) {
    await c.expect("testBinary", [b], b, (got, want) =>
      Buffer.isBuffer(got) && got.equals(want)
        ? null
        : `returned ${short(show(got, Int64))}, want ${short(show(want, Int64))}`,
    );
  }

  const full = new t.Xtruct({ string_thing: "Zero", byte_thing: 1, i32_thing: -3, i64_thing: i64(-5) });
  await c.expect("testStruct", [full], full);
  const edges = new t.Xtruct({
    string_thing: "\u{1F600}",
    byte_thing: I8[0],
    i32_thing: I32[1],
    i64_thing: i64(I64[0]),
  });
  await c.expect("testStruct", [edges], edges);
  // Unset fields must come back unset (null): show() prints every field.
  const partial = new t.Xtruct({ i64_thing: i64(I64[1]) });
  await c.expect("testStruct", [partial], partial);
  await c.expect("testStruct", [new t.Xtruct()], new t.Xtruct());

  const nest = new t.Xtruct2({ byte_thing: 1, struct_thing: full, i32_thing: 5 });
  await c.expect("testNest", [nest], nest);
  const emptyNest = new t.Xtruct2({ struct_thing: new t.Xtruct() });
  await c.expect("testNest", [emptyNest], emptyNest);

  const i32Map = (entries) => Object.fromEntries(entries.map(([k, v]) => [String(k), v]));
  await c.expect("testMap", [{}], {});
  const small = i32Map(range(0, 5).map((i) => [i, i - 10]));
  await c.expect("testMap", [small], small);
  const extremes = i32Map([
    [I32[0], I32[1]],
    [I32[1], I32[0]],
    [0, 0],
  ]);
  await c.expect("testMap", [extremes], extremes);
  const bigMap = i32Map(range(-2000, 2000).map((i) => [i, -i || 0]));
  await c.expect("testMap", [bigMap], bigMap);

  const stringMap = { "": "", a: "b", ключ: "значение", "\u{1F600}": "\x00", ["x".repeat(1000)]: "y" };
  await c.expect("testStringMap", [{}], {});
  await c.expect("testStringMap", [stringMap], stringMap);

  // set<i32> is an array in the generated code: same elements, no duplicates, any order.
  const sameSet = (got, want) => {
    if (!Array.isArray(got)) return `returned ${short(show(got, Int64))}, want an array`;
    const sorted = (xs) => [...xs].sort((a, b) => a - b);
    const g = show(sorted(got), Int64);
    const w = show(sorted(want), Int64);
    return g === w ? null : `returned ${short(g)}, want ${short(w)}`;
  };
  for (const values of [[], [I32[0], -1, 0, 1, I32[1]], range(0, 1000)]) {
    await c.expect("testSet", [values], values, sameSet);
  }

  await c.expect("testList", [[]], []);
  const edgeList = [I32[0], -1, 0, 1, I32[1], 1, 1];
  await c.expect("testList", [edgeList], edgeList);
  const longList = range(-5000, 5000);
  await c.expect("testList", [longList], longList);

  await c.expect("testEnum", [t.Numberz.FIVE], 5);
  for (const v of [1, 2, 3, 5, 6, 8]) await c.expect("testEnum", [v], v);

  for (const v of [...I64, 0n, 309858235082523n]) {
    await c.expect("testTypedef", [i64(v)], v, sameI64);
  }

  const mapmap = { "-4": { "-4": -4, "-3": -3, "-2": -2, "-1": -1 }, 4: { 1: 1, 2: 2, 3: 3, 4: 4 } };
  await c.expect("testMapMap", [1], mapmap);
  await c.expect("testMapMap", [I32[0]], mapmap);

  const insane = new t.Insanity({
    userMap: { 5: i64(5), 8: i64(I64[1]) },
    xtructs: [
      new t.Xtruct({ string_thing: "Goodbye4", byte_thing: 4, i32_thing: 4, i64_thing: i64(4) }),
      new t.Xtruct({ string_thing: "Hello2", byte_thing: 2, i32_thing: 2, i64_thing: i64(2) }),
    ],
  });
  await c.expect("testInsanity", [insane], { 1: { 2: insane, 3: insane }, 2: { 6: new t.Insanity() } });
  const emptyInsane = new t.Insanity({ userMap: {}, xtructs: [] });
  await c.expect("testInsanity", [emptyInsane], {
    1: { 2: emptyInsane, 3: emptyInsane },
    2: { 6: new t.Insanity() },
  });

  const multiMap = { [I16[0]]: "min", [I16[1]]: "max", 0: "", 1: "\u{1F600}" };
  await c.expect(
    "testMulti",
    [I8[0], I32[1], i64(I64[0]), multiMap, 5, i64(I64[1])],
    new t.Xtruct({ string_thing: "Hello2", byte_thing: I8[0], i32_thing: I32[1], i64_thing: i64(I64[0]) }),
  );
  await c.expect(
    "testMulti",
    [1, 2, i64(3), {}, 8, i64(0)],
    new t.Xtruct({ string_thing: "Hello2", byte_thing: 1, i32_thing: 2, i64_thing: i64(3) }),
  );

  // Declared exceptions arrive as the IDL's own classes, and the connection stays usable.
  await c.expectRaises("testException", ["Xception"], t.Xception, "Xception", (e) =>
    fieldProblems(e, { errorCode: 1001, message: "Xception" }, Int64),
  );
  await c.expect("testI32", [11], 11);
  // An undeclared server error arrives as a TApplicationException; the connection survives.
  await c.expectRaises("testException", ["TException"], TApplicationException, "TApplicationException", (e) =>
    fieldProblems(e, { type: options.genericErrorType }, Int64),
  );
  await c.expect("testI32", [12], 12);
  await c.expect("testException", ["success"], undefined, (got) =>
    got === undefined || got === null ? null : `returned ${show(got, Int64)}, want nothing`,
  );

  await c.expectRaises("testMultiException", ["Xception", "ignored"], t.Xception, "Xception", (e) =>
    fieldProblems(e, { errorCode: 1001, message: "This is an Xception" }, Int64),
  );
  await c.expectRaises("testMultiException", ["Xception2", "ignored"], t.Xception2, "Xception2", (e) =>
    fieldProblems(
      e,
      { errorCode: 2002, struct_thing: new t.Xtruct({ string_thing: "This is an Xception2" }) },
      Int64,
    ),
  );
  await c.expect("testMultiException", ["Normal", "Hello3"], new t.Xtruct({ string_thing: "Hello3" }));

  // Oneway: the call returns without waiting for the server's 1 s sleep (no reply is read),
  // and the next normal call on the same connection still gets its own answer.
  const started = process.hrtime.bigint();
  const [ok, got] = await c.call("testOneway", [1]);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  if (!ok) c.fail("testOneway(1)", `raised ${describeError(got, Int64)}`);
  else if (got !== undefined && got !== null) c.fail("testOneway(1)", `returned ${show(got, Int64)}, want nothing`);
  else if (elapsed >= 0.9) c.fail("testOneway(1)", `took ${elapsed.toFixed(2)}s: the client waited for the server`);
  else c.passed += 1;
  await c.expect("testI32", [-13], -13);
  await c.expect("testString", ["after oneway"], "after oneway");
}

module.exports = { runChecks, show };
