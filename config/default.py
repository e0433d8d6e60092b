"""Safe defaults shared by every environment. No secret lives here."""

from datetime import timedelta

ENV = "production"
DEBUG = False
TESTING = False

# Secrets: never set here. Read from ESP_COORD_SECRET_KEY(_FILE), ESP_COORD_MASTER_KEYS(_FILE),
# ESP_COORD_INDEX_KEY(_FILE). Development generates them in the instance folder.
SECRET_KEY = None
MASTER_KEYS = None  # {"current": "<id>", "keys": {"<id>": "<base64 32 bytes>"}}
INDEX_KEY = None  # separate long-lived secret for blind indexes, feed tokens and report pseudonyms

SQLALCHEMY_DATABASE_URI = None  # default: sqlite in the instance folder
SQLALCHEMY_ENGINE_OPTIONS: dict = {}
SQLITE_BUSY_TIMEOUT_MS = 5000

BABEL_DEFAULT_LOCALE = "fr"
BABEL_DEFAULT_TIMEZONE = "Europe/Paris"
DISPLAY_TIMEZONE = "Europe/Paris"

# Sessions
SESSION_COOKIE_NAME = "esp_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = True
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
SESSION_ABSOLUTE_LIFETIME = timedelta(hours=12)
PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
HSTS = True

WTF_CSRF_TIME_LIMIT = 3600

# Login throttling
LOGIN_MAX_FAILURES = 5
LOGIN_LOCKOUT = timedelta(minutes=15)
RATELIMIT_STORAGE_URI = "memory://"
RATELIMIT_LOGIN = "20 per minute"
RATELIMIT_FEED = "60 per minute"
RATELIMIT_HEADERS_ENABLED = False

# TOTP: 0 is strict (ASVS 6.5.5); 1 tolerates one step of clock drift.
TOTP_VALID_WINDOW = 1
TOTP_ISSUER = "esp_coord"

PASSWORD_MIN_LENGTH = 12
ARGON2_TIME_COST = 3
ARGON2_MEMORY_COST = 65536
ARGON2_PARALLELISM = 4

INVITATION_TTL = timedelta(days=7)

# Mail
MAIL_SERVER = "localhost"
MAIL_PORT = 25
MAIL_USE_TLS = False
MAIL_USERNAME = None
MAIL_PASSWORD = None
MAIL_SENDER = "esp_coord <ne-pas-repondre@esp-coord.local>"
MAIL_BACKEND = "smtp"  # "smtp" or "outbox" (development: stored and shown at /dev/outbox)

# Public base URL used in e-mails and feed links
BASE_URL = "http://127.0.0.1:5000"

# Uploads (consent forms)
MAX_CONTENT_LENGTH = 6 * 1024 * 1024
UPLOAD_MAX_BYTES = 5 * 1024 * 1024

# Retention (years after last activity; CNIL référentiel)
RETENTION_YEARS = 20
AUDIT_RETENTION_DAYS = 365

# Background jobs (huey). Empty = instance/huey.db
HUEY_FILENAME = None
HUEY_IMMEDIATE = False

LOG_LEVEL = "INFO"

# Number of trusted reverse proxies in front of gunicorn (nginx = 1). 0 ignores X-Forwarded-* headers.
PROXY_FIX_HOPS = 0
