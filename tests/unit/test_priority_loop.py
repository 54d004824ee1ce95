"""The loop ``threadline serve`` runs on: work marked FIRST goes before the rest, in its order."""

import asyncio

from threadline.engine.priority import FIRST, create_first_task, new_event_loop


def test_marked_work_goes_first_in_its_own_order_until_unmarked() -> None:
    order: list[str] = []

    async def plain(name: str) -> None:
        for step in range(3):
            order.append(f"{name}{step}")
            await asyncio.sleep(0)

    async def first(name: str) -> None:
        for step in range(2):
            order.append(f"{name}{step}")
            await asyncio.sleep(0)
        FIRST.set(False)  # its first output is out: an ordinary task from here
        for step in range(2, 4):
            order.append(f"{name}{step}")
            await asyncio.sleep(0)

    async def main() -> None:
        tasks = [asyncio.create_task(plain(name)) for name in "ab"]
        await asyncio.sleep(0)  # a0 and b0 have run; a1 and b1 are queued
        tasks += [create_first_task(first(name), name) for name in "XY"]
        await asyncio.gather(*tasks)

    loop = new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    # X and Y overtake a1 and b1 (queued before them) while marked, and keep their own order.
    assert order.index("X0") < order.index("Y0") < order.index("X1") < order.index("a1")
    assert order.index("Y1") < order.index("a1")
    assert sorted(order) == sorted(
        ["a0", "a1", "a2", "b0", "b1", "b2"] + [f"{n}{s}" for n in "XY" for s in range(4)]
    )


def test_uvicorn_tasks_of_run_creating_requests_are_marked_from_their_first_step() -> None:
    class Cycle:  # what uvicorn starts a request's task from
        def __init__(self, method: str, path: str) -> None:
            self.scope = {"method": method, "path": path}

        async def run_asgi(self, app: object) -> bool:
            return FIRST.get()

    async def main() -> list[bool]:
        loop = asyncio.get_running_loop()
        requests = [
            ("POST", "/v1/threads/thread_1/runs"),
            ("POST", "/v1/threads/runs"),
            ("GET", "/v1/threads/thread_1/runs"),
            ("POST", "/v1/threads/thread_1/messages"),
        ]
        return [await loop.create_task(Cycle(*r).run_asgi(None)) for r in requests]

    loop = new_event_loop()
    try:
        assert loop.run_until_complete(main()) == [True, True, False, False]
    finally:
        loop.close()
