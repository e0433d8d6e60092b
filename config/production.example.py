"""Example production configuration. Copy to config/production.py or use environment variables.

Secrets are NOT written here: set them through the environment or *_FILE variables
(see config/README.md). The app refuses to start when one is missing, short or an example value.
"""

ENV = "production"
SESSION_COOKIE_SECURE = True
HSTS = True
# DATABASE_URL=postgresql+psycopg://esp:***@127.0.0.1/esp_coord
MAIL_SERVER = "smtp.example.org"
MAIL_PORT = 587
MAIL_USE_TLS = True
MAIL_SENDER = "ESP <coordination@example.org>"
BASE_URL = "https://esp.example.org"
RATELIMIT_STORAGE_URI = "memory://"  # use redis://… with several gunicorn workers
HUEY_FILENAME = "/var/lib/esp_coord/huey.db"
PROXY_FIX_HOPS = 1  # nginx in front: trust its X-Forwarded-For / X-Forwarded-Proto
