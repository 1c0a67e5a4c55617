"""Tests of swordfish.web: ThriftApp and the gunicorn workers under a real gunicorn."""
