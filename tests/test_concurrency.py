"""Optimistic concurrency under real concurrent requests."""

import asyncio


async def test_concurrent_updates_with_one_version_let_exactly_one_win(api):
    case = await api.create_case()
    patches = [
        api.patch(
            "/api/cases", {"cases": [{"id": case["id"], "version": case["version"], "title": f"title {n}"}]}
        )
        for n in range(8)
    ]
    results = await asyncio.gather(*patches)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 7
    (winner,) = [body[0] for status, body in results if status == 200]
    status, stored = await api.get(f"/api/cases/{case['id']}")
    assert status == 200
    assert stored["title"] == winner["title"]
    assert stored["version"] == winner["version"]
    status, actions = await api.get(f"/api/cases/{case['id']}/user_actions/_find", params={"types": "title"})
    assert status == 200
    assert actions["total"] == 1
