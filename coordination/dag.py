"""Pure DAG algorithms for the task queue: cycle paths, topological levels, ready ordering.

No Django import. A graph is a mapping {task_id: iterable of dependency ids}: an edge
task → dep means "task waits for dep".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Graph = Mapping[str, Iterable[str]]


def path_between(graph: Graph, start: str, goal: str) -> list[str] | None:
    """A dependency path start → … → goal (following deps), or None. Iterative DFS."""
    if start == goal:
        return [start]
    parent: dict[str, str | None] = {start: None}
    stack = [start]
    while stack:
        node = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt in parent:
                continue
            parent[nxt] = node
            if nxt == goal:
                path = [goal]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return path[::-1]
            stack.append(nxt)
    return None


def cycle_if_added(graph: Graph, task: str, dep: str) -> list[str] | None:
    """The cycle [task, dep, …, task] that adding task → dep would close, or None."""
    if task == dep:
        return [task, task]
    back = path_between(graph, dep, task)
    return [task, *back] if back else None


def find_cycle(graph: Graph, nodes: Iterable[str] | None = None) -> list[str] | None:
    """Some cycle [a, b, …, a] reachable from `nodes` (default: every node), or None.

    Iterative three-colour DFS, so 10,000-node chains do not hit the recursion limit.
    """
    WHITE, GREY, BLACK = 0, 1, 2
    colour: dict[str, int] = {}
    for root in list(nodes if nodes is not None else graph):
        if colour.get(root, WHITE) != WHITE:
            continue
        colour[root] = GREY
        path = [root]
        iters = [iter(graph.get(root, ()))]
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                colour[path.pop()] = BLACK
                iters.pop()
                continue
            state = colour.get(nxt, WHITE)
            if state == GREY:
                return [*path[path.index(nxt):], nxt]
            if state == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                iters.append(iter(graph.get(nxt, ())))
    return None


def levels(graph: Graph) -> list[list[str]]:
    """Kahn layering: level 0 has no deps inside the graph, level n waits only on levels < n.

    Deps that are not nodes of the graph are ignored. Raises ValueError naming a cycle.
    """
    nodes = set(graph)
    waiting = {n: {d for d in graph[n] if d in nodes and d != n} for n in nodes}
    dependents: dict[str, list[str]] = {n: [] for n in nodes}
    for n, deps in waiting.items():
        for d in deps:
            dependents[d].append(n)
    remaining = {n: len(d) for n, d in waiting.items()}
    layer = sorted(n for n, k in remaining.items() if k == 0)
    out: list[list[str]] = []
    seen = 0
    while layer:
        out.append(layer)
        seen += len(layer)
        nxt = []
        for n in layer:
            for m in dependents[n]:
                remaining[m] -= 1
                if remaining[m] == 0:
                    nxt.append(m)
        layer = sorted(nxt)
    if seen != len(nodes):
        cycle = find_cycle(graph, sorted(n for n, k in remaining.items() if k > 0))
        raise ValueError(f"Dependency cycle: {' → '.join(cycle or [])}")
    return out


def ready_ids(
    tasks: Mapping[str, tuple[str, int, float, float | None]], graph: Graph, now: float
) -> list[str]:
    """Ids of ready tasks, best first.

    tasks maps id → (status, priority, created_ts, not_before_ts or None). Ready means pending,
    not_before passed, and every dep complete (an unknown dep blocks). Order: priority desc,
    then age (oldest first), then id.
    """
    out = []
    for tid, (status, priority, created, not_before) in tasks.items():
        if status != "pending" or (not_before is not None and not_before > now):
            continue
        if all(tasks.get(d, ("missing",))[0] == "complete" for d in graph.get(tid, ())):
            out.append((-priority, created, tid))
    out.sort()
    return [t for _, _, t in out]


CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    # First declared wins ties (reference §8.7).
    "planning": ("plan", "design", "architect", "spec", "roadmap", "outline"),
    "development": ("implement", "build", "add", "create", "feature", "write code", "refactor"),
    "testing": ("test", "coverage", "assert", "e2e", "spec file", "pytest"),
    "debugging": ("debug", "fix", "bug", "error", "crash", "broken", "investigate"),
    "review": ("review", "audit", "inspect", "check"),
    "deployment": ("deploy", "release", "ship", "rollout", "publish", "ci"),
    "documentation": ("document", "docs", "readme", "guide", "tutorial", "comment"),
}


def detect_category(text: str) -> str:
    """The category whose keywords occur most often in text ('' when none match)."""
    import re

    words = text.lower()
    best, best_score = "", 0
    for category, keywords in CATEGORY_KEYWORDS.items():
        score = sum(len(re.findall(rf"\b{re.escape(k)}", words)) for k in keywords)
        if score > best_score:
            best, best_score = category, score
    return best
