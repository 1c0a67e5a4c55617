# gunicorn settings for the calculator example (a gunicorn config file is plain Python).
#
#     gunicorn -c examples/gunicorn/gunicorn.conf.py
#
# Command-line options override these: `-b 127.0.0.1:9191`, `-k ...ThriftAsyncWorker`, ...
# Every setting gunicorn reads is listed by `gunicorn --help`; docs/gunicorn.md says which
# ones matter for Thrift workers.

wsgi_app = "examples.gunicorn.calc_app:app"
worker_class = "swordfish.web.gunicorn.ThriftWorker"
bind = ["127.0.0.1:9090"]
workers = 2
threads = 4  # handler threads per worker and listening socket
timeout = 30  # seconds without a heartbeat before the arbiter kills a worker
graceful_timeout = 10  # SIGTERM / recycle: how long running calls may take to finish
max_requests = 10_000  # recycle a worker after this many calls...
max_requests_jitter = 1_000  # ...plus up to this many, so workers do not restart together
