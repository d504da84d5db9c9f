"""The web app and the project store: stale results flagged, a busy project is a 503."""

from __future__ import annotations

import tomllib

import tomli_w
from conftest import lock_held_elsewhere

from web import create_app


def _client(project):
    app = create_app({"PROJECT": str(project.path), "TESTING": False})
    return app, app.test_client()


def test_results_from_older_settings_are_flagged_not_served_as_current(sample_copy):
    app, client = _client(sample_copy)
    assert client.get("/health").get_json()["results_stale"] is False
    page = client.get("/").get_data(as_text=True)
    assert "badge-stale" not in page
    # a hand edit of the thresholds after the analysis
    path = sample_copy.path / "project.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config["thresholds"]["rsrp_dbm"]["good"] = -80.0
    path.unlink()
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    health = client.get("/health").get_json()
    assert health["analysed"] is True and health["results_stale"] is True
    page = client.get("/").get_data(as_text=True)
    assert "badge-stale" in page and "Hasil belum diperbarui" in page


def test_a_busy_project_answers_503_with_retry_after(sample_copy):
    app, client = _client(sample_copy)

    @app.post("/register/_write_probe")
    def write_probe():  # a writer, as the register's forms and API will be
        with sample_copy.transaction("web edit", timeout=0.1):
            pass
        return {"ok": True}

    page = client.get("/auth/login").get_data(as_text=True)  # a session's CSRF token
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    headers = {"X-CSRFToken": token, "Accept": "application/json"}
    with lock_held_elsewhere(sample_copy.path, "import sites"):
        response = client.post("/register/_write_probe", headers=headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert "being updated" in body["description"] or "sedang diperbarui" in body["description"]
    assert str(sample_copy.path) not in response.get_data(as_text=True)
    assert client.post("/register/_write_probe", headers=headers).status_code == 200
