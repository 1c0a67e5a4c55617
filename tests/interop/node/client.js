#!/usr/bin/env node
"use strict";
/**
 * Node.js ThriftTest client for the interop tests (see common.js for the options).
 *
 * Connects to --host/--port, runs the check table (thrifttest_checks.js) and exits 0 only
 * if every check passed; otherwise it prints each failure and exits 1. Exit 2 is a usage
 * error.
 */

const { parseCommandLine, loadGenerated, stack, tlsOptions } = require("./common");
const { runChecks } = require("./thrifttest_checks");

const USAGE = `usage: node client.js --gen-dir DIR
                      --protocol {binary,compact,json,header,header-compact}
                      --transport {buffered,framed,http} --port N [--host H]
                      [--http-path /] [--ssl [--cafile CA] [--certfile F --keyfile F]
                      [--server-hostname NAME]] [--generic-error-type N]
                      [--finite-doubles-only] [--no-signed-zero] [--verbose]

--generic-error-type: the TApplicationException type expected for an undeclared server
    error (default 6, INTERNAL_ERROR, what Swordfish sends; the Node server sends 0).
--finite-doubles-only / --no-signed-zero: leave NaN/inf / -0.0 out of testDouble.`;

function connect(thrift, args) {
  const { protocol, transport } = stack(thrift, args.protocol, args.transport);
  const options = { transport, protocol };
  if (args.transport === "http") {
    options.path = args["http-path"];
    options.https = args.ssl;
    if (args.ssl) {
      options.nodeOptions = tlsOptions(args);
      if (args["server-hostname"]) options.nodeOptions.servername = args["server-hostname"];
    }
    return thrift.createHttpConnection(args.host, args.port, options);
  }
  if (args.ssl) {
    Object.assign(options, tlsOptions(args));
    if (args["server-hostname"]) options.servername = args["server-hostname"];
    return thrift.createSSLConnection(args.host, args.port, options);
  }
  return thrift.createConnection(args.host, args.port, options);
}

async function main() {
  const args = parseCommandLine(USAGE, {
    "server-hostname": { type: "string" },
    "generic-error-type": { type: "string", default: "6" },
    "finite-doubles-only": { type: "boolean", default: false },
    "no-signed-zero": { type: "boolean", default: false },
    verbose: { type: "boolean", short: "v", default: false },
  });
  if (args.port === 0) {
    process.stderr.write(`--port is required\n${USAGE}\n`);
    process.exit(2);
  }
  const { thrift, ThriftTest, ttypes } = loadGenerated(args["gen-dir"]);
  const connection = connect(thrift, args);
  const client =
    args.transport === "http"
      ? thrift.createHttpClient(ThriftTest, connection)
      : thrift.createClient(ThriftTest, connection);
  if (args.protocol.startsWith("header")) {
    // The generated client flushes its transport directly (`this.output.flush()`), which
    // skips THeaderProtocol.flush, the one place the library writes the THeader frame: left
    // alone, `--protocol header` sends plain binary messages (which THeader servers also
    // accept, so nothing would notice). Route every flush through the header writer.
    const transport = client.output;
    // THeader subprotocol ids: 0 binary, 2 compact. Each call's THeaderProtocol picks the
    // subprotocol it writes from the transport's id.
    if (args.protocol === "header-compact") transport.setProtocolId(2);
    const flush = transport.flush.bind(transport);
    transport.flush = () => {
      transport.writeHeaders();
      return flush();
    };
  }

  const failures = await runChecks(client, connection, thrift, ttypes, {
    log: args.verbose,
    genericErrorType: Number(args["generic-error-type"]),
    finiteDoublesOnly: args["finite-doubles-only"],
    signedZero: !args["no-signed-zero"],
  });
  if (typeof connection.end === "function") connection.end();
  if (failures.length) {
    process.stdout.write(`${failures.length} check(s) failed:\n`);
    for (const failure of failures) process.stdout.write(`  - ${failure}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write("all checks passed\n");
    process.exitCode = 0;
  }
  // Do not wait for keep-alive sockets or the server's oneway timer: the verdict is in.
  process.stdout.write("", () => process.exit(process.exitCode));
}

main().catch((err) => {
  process.stdout.write(`client crashed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
