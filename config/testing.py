"""Tests: cheap password hashing, immediate background jobs. Secrets are given by the test fixtures."""

ENV = "testing"
TESTING = True
SESSION_COOKIE_SECURE = False
HSTS = False
ARGON2_TIME_COST = 1
ARGON2_MEMORY_COST = 1024
ARGON2_PARALLELISM = 1
HUEY_IMMEDIATE = True
RATELIMIT_ENABLED = True
MAIL_BACKEND = "outbox"
BASE_URL = "http://localhost"
SERVER_NAME = None
