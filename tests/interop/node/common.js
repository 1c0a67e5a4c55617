"use strict";
/**
 * Command line and wiring shared by the Node.js ThriftTest peers (server.js, client.js).
 *
 * The peers run the code that Debian's `thrift --gen js:node` wrote into --gen-dir, on the
 * npm `thrift` library pinned in package.json. That generated code says `require('thrift')`,
 * which Node resolves from the generated file's own directory upwards, so the gen dir needs
 * a `node_modules` that holds the library: the tests link <gen-dir>/node_modules to
 * tests/interop/node/node_modules (see test_node_interop.py).
 *
 * protocol: binary | compact | json | header | header-compact (THeader frames carrying
 *   binary or compact; the library has no zlib transform). A server answers each THeader
 *   request in the request's own subprotocol, so for a server the two header names are one.
 * transport: buffered | framed | http (an HTTP POST per call; the body is a buffered message).
 * TLS: --ssl with --cafile (the CA the peer must chain to) and --certfile/--keyfile (this
 *   side's certificate); a server with --require-client-cert does mutual TLS.
 */

const fs = require("fs");
const path = require("path");
const { parseArgs } = require("util");

const PROTOCOLS = ["binary", "compact", "json", "header", "header-compact"];
const TRANSPORTS = ["buffered", "framed", "http"];

const COMMON_OPTIONS = {
  "gen-dir": { type: "string" },
  protocol: { type: "string" },
  transport: { type: "string" },
  host: { type: "string", default: "127.0.0.1" },
  port: { type: "string", default: "0" },
  "http-path": { type: "string", default: "/" },
  ssl: { type: "boolean", default: false },
  cafile: { type: "string" },
  certfile: { type: "string" },
  keyfile: { type: "string" },
  help: { type: "boolean", default: false },
};

function usageError(usage, message) {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

/** Parse argv with COMMON_OPTIONS plus `extra`; exit 2 with `usage` on anything wrong. */
function parseCommandLine(usage, extra) {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { ...COMMON_OPTIONS, ...extra },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    usageError(usage, err.message);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  if (!values["gen-dir"]) usageError(usage, "--gen-dir is required");
  if (!PROTOCOLS.includes(values.protocol)) {
    usageError(usage, `--protocol must be one of ${PROTOCOLS.join(", ")}`);
  }
  if (!TRANSPORTS.includes(values.transport)) {
    usageError(usage, `--transport must be one of ${TRANSPORTS.join(", ")}`);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    usageError(usage, `--port must be 0..65535, got ${values.port}`);
  }
  values.port = port;
  for (const name of ["cafile", "certfile", "keyfile"]) {
    if (values[name] !== undefined && !values.ssl) usageError(usage, `--${name} needs --ssl`);
  }
  if (values.keyfile !== undefined && values.certfile === undefined) {
    usageError(usage, "--keyfile needs --certfile");
  }
  return values;
}

/** The generated modules and the library the peers run on (the library the gen dir sees). */
function loadGenerated(genDir) {
  const dir = path.resolve(genDir);
  const service = path.join(dir, "ThriftTest.js");
  if (!fs.existsSync(service)) {
    throw new Error(`no ThriftTest.js in ${dir}: run thrift --gen js:node -out ${dir} ...`);
  }
  // Resolve 'thrift' exactly as the generated code does, so instanceof checks on
  // TApplicationException and Int64 compare classes from one copy of the library.
  const thriftPath = require.resolve("thrift", { paths: [dir] });
  return {
    thrift: require(thriftPath),
    ThriftTest: require(service),
    ttypes: require(path.join(dir, "ThriftTest_types.js")),
  };
}

/** { protocol, transport } classes of the library for the command-line names. */
function stack(thrift, protocol, transport) {
  const protocols = {
    binary: thrift.TBinaryProtocol,
    compact: thrift.TCompactProtocol,
    json: thrift.TJSONProtocol,
    header: thrift.THeaderProtocol,
    "header-compact": thrift.THeaderProtocol,
  };
  // THeader frames its own messages, so it must sit on a transport that passes the whole
  // frame up (the library's THeaderTransport reads the length word itself). Over
  // "framed" the library would add a second length prefix; it is still offered so the
  // header x framed combination can be probed, but expect it to speak only to itself.
  const transports = {
    buffered: thrift.TBufferedTransport,
    framed: thrift.TFramedTransport,
    http: thrift.TBufferedTransport,
  };
  return { protocol: protocols[protocol], transport: transports[transport] };
}

/** TLS options for tls.connect / tls.createServer / https from the command line. */
function tlsOptions(values) {
  // Passing secureOptions keeps the library from forcing its legacy secureProtocol, which
  // Node refuses to combine with minVersion.
  const options = { minVersion: "TLSv1.2", secureOptions: 0 };
  if (values.cafile) options.ca = fs.readFileSync(values.cafile);
  if (values.certfile) options.cert = fs.readFileSync(values.certfile);
  if (values.keyfile) options.key = fs.readFileSync(values.keyfile);
  return options;
}

module.exports = { PROTOCOLS, TRANSPORTS, parseCommandLine, loadGenerated, stack, tlsOptions };
