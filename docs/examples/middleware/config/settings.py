import os

WEBHOOK_SECRET = os.environ.get("WEBHOOK_SECRET", "dev-secret")

MIDDLEWARE_CONFIG = {
    "RequireToken": {
        "tokens": os.environ.get("API_TOKENS", "dev-token").split(","),
        "read_only_tokens": os.environ.get("READ_ONLY_TOKENS", "viewer-token").split(","),
    },
    "AuditLog": {"path": os.environ.get("AUDIT_LOG", "audit.log")},
}
