"""The calculator served by gunicorn: ``gunicorn -c examples/gunicorn/gunicorn.conf.py``."""
