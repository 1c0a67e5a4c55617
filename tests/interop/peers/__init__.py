"""Peer programs (run as subprocesses) and the ThriftTest behaviour they share."""
