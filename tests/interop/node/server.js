#!/usr/bin/env node
"use strict";
/**
 * Node.js ThriftTest server for the interop tests (see common.js for the options).
 *
 * Binds --host/--port (0 = the kernel picks), prints `listening on HOST:PORT` once bound
 * (tests/interop/harness.py waits for that line) and serves until SIGTERM/SIGINT.
 */

const { parseCommandLine, loadGenerated, stack, tlsOptions } = require("./common");
const { makeHandler } = require("./thrifttest_handler");

const USAGE = `usage: node server.js --gen-dir DIR
                      --protocol {binary,compact,json,header,header-compact}
                      --transport {buffered,framed,http} [--host H] [--port N]
                      [--http-path /] [--ssl --certfile F --keyfile F
                      [--cafile CA [--require-client-cert]]]`;

function main() {
  const args = parseCommandLine(USAGE, {
    "require-client-cert": { type: "boolean", default: false },
  });
  if (args.ssl && !args.certfile) {
    process.stderr.write(`--ssl needs --certfile (the server's certificate)\n${USAGE}\n`);
    process.exit(2);
  }
  if (args["require-client-cert"] && !args.cafile) {
    process.stderr.write(`--require-client-cert needs --cafile\n${USAGE}\n`);
    process.exit(2);
  }
  const { thrift, ThriftTest, ttypes } = loadGenerated(args["gen-dir"]);
  const { protocol, transport } = stack(thrift, args.protocol, args.transport);
  const log = (line) => process.stdout.write(`${line}\n`);
  const handler = makeHandler(thrift, ttypes, log);

  let tls;
  if (args.ssl) {
    tls = tlsOptions(args);
    if (args["require-client-cert"]) {
      tls.requestCert = true;
      tls.rejectUnauthorized = true;
    }
  }

  let server;
  if (args.transport === "http") {
    // The generated processor writes nothing for a oneway call, and the library's web
    // server only ends an HTTP response when a reply is flushed: a oneway POST would never
    // get its response, and an HTTP client (which must read one) would wait until it times
    // out. Node's own HTTP client does not wait, so Node-to-Node never notices. Answer
    // oneway calls with an empty 200, as other Thrift HTTP servers do.
    const processOneway = ThriftTest.Processor.prototype.process_testOneway;
    ThriftTest.Processor.prototype.process_testOneway = function (seqid, input, output) {
      processOneway.call(this, seqid, input, output);
      output.trans.onFlush(Buffer.alloc(0));
    };
    const services = {};
    services[args["http-path"]] = { transport, protocol, processor: ThriftTest, handler };
    server = thrift.createWebServer({ services, tls });
  } else {
    server = thrift.createServer(ThriftTest, handler, { transport, protocol, tls });
  }
  // A broken connection (a client that hung up, a failed TLS handshake, garbage bytes)
  // ends that connection only; say why, for the test's log.
  server.on("error", (err) => log(`connection error: ${err && err.stack ? err.stack : err}`));
  server.on("tlsClientError", (err) => log(`TLS handshake failed: ${err.message}`));
  server.on("clientError", (err, socket) => {
    log(`HTTP client error: ${err.message}`);
    socket.destroy();
  });
  server.listen(args.port, args.host, () => {
    const { address, port } = server.address();
    const mode = [args.protocol, args.transport, args.ssl ? "tls" : "plain"].join(", ");
    log(`listening on ${address}:${port} (node thrift, ${mode})`);
  });

  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main();
