"""The per-user feed in real clients: vdirsyncer (http -> filesystem) then khal, across the October DST change."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from esp_coord.calendar_feeds import services as feeds
from esp_coord.core.extensions import db
from esp_coord.meetings import services as svc
from esp_coord.meetings.models import Meeting
from tests.meetings.helpers import at_paris


def _tool(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


VDIRSYNCER, KHAL = _tool("vdirsyncer"), _tool("khal")


@pytest.fixture
def tools():
    if not (VDIRSYNCER and KHAL):
        reason = "vdirsyncer and khal are needed for the real-client test (pip install vdirsyncer khal)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return VDIRSYNCER, KHAL


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def _run(args, env, cwd):
    proc = subprocess.run(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout + proc.stderr


def test_vdirsyncer_and_khal_see_the_feed_and_its_changes(app, f, tools, live_server, tmp_path):
    vdirsyncer, khal = tools
    team, _other, users = f.team_with_roles()
    coord = users["coordinator"]

    def make(start, end, kind="rcp_sans"):
        m = svc.create_meeting(team, kind=kind, place_kind="practice", place="Cabinet médical de Clisson",
                               invitee_ids=[users["member"].id], actor=coord, starts_at=start, ends_at=end)
        db.session.commit()
        return m

    # the last Sunday of October 2027 is the 31st (03:00 CEST -> 02:00 CET)
    staff = make(at_paris(2027, 10, 26, 9), at_paris(2027, 10, 26, 10), kind="team")
    point = make(at_paris(2027, 10, 28, 14), at_paris(2027, 10, 28, 15), kind="training")
    night = make(at_paris(2027, 10, 30, 22), at_paris(2027, 10, 31, 4), kind="rcp_avec")
    rcp = make(at_paris(2027, 10, 20, 12, 30), at_paris(2027, 10, 20, 13, 30))
    token = feeds.regenerate(users["member"])
    db.session.commit()

    cal_dir = tmp_path / "calendars" / "esp"
    (tmp_path / "vdirsyncer.conf").write_text(f"""[general]
status_path = "{tmp_path / 'status'}/"

[pair esp]
a = "esp_remote"
b = "esp_local"
collections = null

[storage esp_remote]
type = "http"
url = "{live_server}/agenda/u/{token}.ics"

[storage esp_local]
type = "filesystem"
path = "{cal_dir}/"
fileext = ".ics"
""")
    (tmp_path / "khalrc").write_text(f"""[calendars]
[[esp]]
path = {cal_dir}/
readonly = True
[locale]
local_timezone = Europe/Paris
default_timezone = Europe/Paris
timeformat = %H:%M
dateformat = %d/%m/%Y
longdateformat = %d/%m/%Y
datetimeformat = %d/%m/%Y %H:%M
longdatetimeformat = %d/%m/%Y %H:%M
[sqlite]
path = {tmp_path / 'khal.db'}
""")
    env = {**os.environ, "VDIRSYNCER_CONFIG": str(tmp_path / "vdirsyncer.conf"), "HOME": str(tmp_path),
           "TZ": "UTC", "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XDG_DATA_HOME": str(tmp_path / "xdgdata")}
    _run([vdirsyncer, "discover"], env, tmp_path)
    _run([vdirsyncer, "sync"], env, tmp_path)
    files = list(cal_dir.glob("*.ics"))
    assert len(files) == 4, [p.name for p in files]
    for p in files:
        assert "Lef" not in p.read_text()

    def khal_list():
        return _run([khal, "-c", str(tmp_path / "khalrc"), "list", "19/10/2027", "02/11/2027"], env, tmp_path)

    out = khal_list()
    lines = out.splitlines()
    assert any(line.startswith("12:30-13:30 RCP – ") for line in lines), out
    assert any(line.startswith("09:00-10:00 Réunion d'équipe") for line in lines), out
    assert any(line.startswith("14:00-15:00 Formation") for line in lines), out
    # across the DST change: 22:00 on Saturday to 04:00 (CET) on Sunday
    sat = lines.index(next(line for line in lines if "30/10/2027" in line))
    assert lines[sat + 1].startswith("22:00→ RCP avec patient"), out
    sun = lines.index(next(line for line in lines if "31/10/2027" in line))
    assert lines[sun + 1].startswith("→04:00 RCP avec patient"), out

    # move one meeting, cancel another: both propagate on the next sync
    staff = db.session.get(Meeting, staff.id)
    svc.update_meeting(staff, actor=coord, starts_at=at_paris(2027, 10, 26, 11), ends_at=at_paris(2027, 10, 26, 12),
                       place_kind="practice", place="Pharmacie de Gétigné",
                       invitee_ids=[i.user_id for i in staff.invitees])
    svc.cancel_meeting(db.session.get(Meeting, point.id), actor=coord)
    db.session.commit()
    sync = _run([vdirsyncer, "sync"], env, tmp_path)
    assert "Deleting" in sync or "Copying" in sync, sync
    out = khal_list()
    assert "11:00-12:00 Réunion d'équipe" in out and "09:00-10:00 Réunion d'équipe" not in out, out
    assert "CANCELLED 14:00-15:00 ANNULÉ – Formation" in out, out
    assert len(list(cal_dir.glob("*.ics"))) == 4
    assert night and rcp
