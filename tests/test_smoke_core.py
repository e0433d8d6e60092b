from esp_coord.core import audit
from esp_coord.core.extensions import db


def test_app_boots_in_french(app, client):
    resp = client.get("/static/css/app.css")
    assert resp.status_code == 200
    assert "Content-Security-Policy" in resp.headers


def test_audit_chain_roundtrip(app):
    for i in range(3):
        audit.record("test.event", object_type="thing", object_id=i)
    db.session.commit()
    assert audit.verify_chain().ok
