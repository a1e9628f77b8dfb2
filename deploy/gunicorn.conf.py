"""gunicorn's settings for the portal (docs/operations.md): `gunicorn --config deploy/gunicorn.conf.py`.

Under systemd (deploy/systemd/portal-web.service) gunicorn serves the socket systemd holds for it
(deploy/systemd/portal-web.socket), which nginx connects to; `bind` below is used only when started by hand.
Settings a council may want to change come from the environment: PORTAL_GUNICORN_WORKERS and
PORTAL_GUNICORN_THREADS (the web unit reads them from /etc/portal/portal.env like every other setting).
"""

import multiprocessing
import os

wsgi_app = "portal:create_app()"
bind = os.environ.get("PORTAL_GUNICORN_BIND", "unix:/run/portal/web.sock")

# Threads: an upload or download streams for as long as the file takes, holding one thread, not one process.
worker_class = "gthread"
workers = int(os.environ.get("PORTAL_GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count(), 8)))
threads = int(os.environ.get("PORTAL_GUNICORN_THREADS", 8))
# A worker that stops answering its arbiter for this long is restarted; a long upload does not count (its thread
# streams while the worker keeps answering).
timeout = 60
# On restart (systemctl reload or an upgrade), requests under way get this long to finish, uploads included.
graceful_timeout = 120
keepalive = 5  # nginx keeps a few connections to gunicorn open (its upstream's keepalive)
max_requests = 2000  # each worker is replaced now and then, so no slow leak can build up
max_requests_jitter = 200

# The portal alone decides which forwarded headers to trust (PORTAL_TRUST_PROXY, through Werkzeug's ProxyFix):
# gunicorn must not take the scheme from them too, whatever address the request came from.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = ""
# Headers with underscores could pose as WSGI variables (SCRIPT_NAME); drop them (nginx does not pass them either).
header_map = "drop"

# No control socket (gunicorn 25.1+ makes one in the account's home for `gunicornc`): systemd manages the service.
control_socket_disable = True

# nginx writes the access log (without emailed links' tokens); gunicorn logs errors to the journal.
accesslog = None
errorlog = "-"
loglevel = "info"
