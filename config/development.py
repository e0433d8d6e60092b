"""Development: local SQLite, generated secrets in the instance folder, e-mail kept in a local outbox."""

ENV = "development"
DEBUG = False
SESSION_COOKIE_SECURE = False
HSTS = False
MAIL_BACKEND = "outbox"
LOG_LEVEL = "INFO"
