"""REST API over real HTTP against the app with the suite's redis-server."""

from __future__ import annotations

import jwt

from tests.conftest import iso


async def test_health_reports_versions_and_redis(aula_server):
    async with aula_server.http.get(f"{aula_server.base_url}/healthz") as response:
        body = await response.json()
    assert response.status == 200
    assert body["redis"]["reachable"] is True
    assert body["versions"]["aiortc"] == "1.16.0"


async def test_the_api_refuses_requests_without_the_key(aula_server):
    url = f"{aula_server.base_url}/api/sessions"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-api-key"}):
        async with aula_server.http.post(url, json={}, headers=headers) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "unauthorized"


async def test_a_session_is_created_and_read_back(aula_server):
    roster = [{"identity": "s1", "name": "Sam", "guardian": {"name": "Pat", "email": "pat@example.org"}}]
    session = await aula_server.create_session(
        title="Biology", roster=roster, instructors=["t1"],
        settings={"late_after_s": 60, "no_show_after_s": 120, "recording": True,
                  "recording_retention_days": 30})
    assert session["id"].startswith("ses_")
    async with aula_server.http.get(f"{aula_server.base_url}/api/sessions/{session['id']}",
                                    headers=aula_server.headers) as response:
        body = await response.json()
    assert body["title"] == "Biology"
    assert body["roster"][0]["guardian"]["email"] == "pat@example.org"
    assert body["settings"] == {"late_after_s": 60, "no_show_after_s": 120, "recording": True,
                                "recording_retention_days": 30}
    assert body["room"] is None


async def test_invalid_sessions_get_a_400_naming_the_problem(aula_server):
    url = f"{aula_server.base_url}/api/sessions"
    cases = [
        ({"title": "x", "scheduled_start": "yesterday", "scheduled_end": iso(60)}, "scheduled_start"),
        ({"title": "x", "scheduled_start": iso(60), "scheduled_end": iso(0)}, "after"),
        ({"title": "x", "scheduled_start": iso(-7200), "scheduled_end": iso(-3600)}, "in the past"),
        ({"title": "", "scheduled_start": iso(), "scheduled_end": iso(60)}, "title"),
        ({"title": "x", "scheduled_start": iso(), "scheduled_end": iso(60), "roster": [{"identity": "a"}]}, "name"),
        ({"title": "x", "scheduled_start": iso(), "scheduled_end": iso(60), "settings": {"late_after_s": -1}}, "late_after_s"),
        ([1, 2], "object"),
    ]
    for body, word in cases:
        async with aula_server.http.post(url, json=body, headers=aula_server.headers) as response:
            assert response.status == 400, body
            assert word in (await response.json())["error"]["message"]
    async with aula_server.http.post(url, data=b"{not json", headers=aula_server.headers) as response:
        assert response.status == 400
    async with aula_server.http.post(url, data=b"x" * 300_000, headers=aula_server.headers) as response:
        assert response.status == 413


async def test_join_tokens_carry_session_identity_role_and_permissions(aula_server):
    session = await aula_server.create_session()
    issued = await aula_server.token(session["id"], "kim", "Kim Lee", role="student")
    claims = jwt.decode(issued["token"], options={"verify_signature": False})
    assert claims["sid"] == session["id"] and claims["sub"] == "kim" and claims["name"] == "Kim Lee"
    assert claims["role"] == "student"
    assert claims["perms"] == {"publish_audio": True, "publish_video": True,
                               "publish_screen": False, "moderate": False, "subscribe": True}
    assert claims["exp"] > claims["iat"]
    assert issued["join_url"] == f"{aula_server.base_url}/join/{session['id']}?token={issued['token']}"
    teacher = await aula_server.token(session["id"], "t", role="instructor",
                                      permissions={"publish_screen": False})
    perms = jwt.decode(teacher["token"], options={"verify_signature": False})["perms"]
    assert perms["moderate"] is True and perms["publish_screen"] is False


async def test_token_requests_are_validated(aula_server):
    session = await aula_server.create_session()
    url = f"{aula_server.base_url}/api/sessions/{session['id']}/tokens"
    for body in ({"name": "x"}, {"identity": "a", "role": "admin"},
                 {"identity": "a", "permissions": {"fly": True}}, {"identity": "a", "ttl_s": 0}):
        async with aula_server.http.post(url, json=body, headers=aula_server.headers) as response:
            assert response.status == 400, body
    async with aula_server.http.post(f"{aula_server.base_url}/api/sessions/ses_nope/tokens",
                                     json={"identity": "a"}, headers=aula_server.headers) as response:
        assert response.status == 404


async def test_ops_tokens_are_only_for_the_ops_role(aula_server):
    url = f"{aula_server.base_url}/api/tokens"
    async with aula_server.http.post(url, json={"identity": "op", "role": "ops"},
                                     headers=aula_server.headers) as response:
        assert response.status == 201
        claims = jwt.decode((await response.json())["token"], options={"verify_signature": False})
        assert claims["role"] == "ops"
    async with aula_server.http.post(url, json={"identity": "op", "role": "student"},
                                     headers=aula_server.headers) as response:
        assert response.status == 400


async def test_the_join_page_is_served_for_a_known_session_only(aula_server):
    session = await aula_server.create_session()
    async with aula_server.http.get(f"{aula_server.base_url}/join/{session['id']}?token=x") as response:
        assert response.status == 200
        assert "text/html" in response.headers["Content-Type"]
    async with aula_server.http.get(f"{aula_server.base_url}/join/ses_missing") as response:
        assert response.status == 404


async def test_ending_a_session_refuses_new_tokens(aula_server):
    session = await aula_server.create_session()
    assert (await aula_server.end_session(session["id"]))["ended_at"] is not None
    async with aula_server.http.post(f"{aula_server.base_url}/api/sessions/{session['id']}/tokens",
                                     json={"identity": "late"}, headers=aula_server.headers) as response:
        assert response.status == 409


async def test_stats_report_media_counters_and_event_loop_lag(aula_server):
    import asyncio
    await asyncio.sleep(0.35)
    async with aula_server.http.get(f"{aula_server.base_url}/api/stats",
                                    headers=aula_server.headers) as response:
        body = await response.json()
    assert response.status == 200
    assert body["media"]["rooms"] == 0 and body["media"]["packets_forwarded"] == 0
    assert body["event_loop_lag"]["samples"] >= 2
    import gc
    gc.collect()  # a full pass, timed by the server's monitor (same process)
    async with aula_server.http.get(f"{aula_server.base_url}/api/stats",
                                    headers=aula_server.headers) as response:
        pauses = (await response.json())["gc_pauses"]
    assert pauses["full_collections"] >= 1 and pauses["full_max_ms"] > 0
    assert isinstance(body["udp_receive_buffer_errors"], int)
