from __future__ import annotations

from django.apps import AppConfig


def chain_links(ids: list[str]) -> dict[str, str]:
    """Timeline links: /chains/<id>/ for the chains that still exist (one query)."""
    import uuid

    from .models import Chain

    valid = []
    for ident in ids:
        try:
            valid.append(uuid.UUID(ident))
        except ValueError:
            continue
    found = Chain.objects.filter(id__in=valid).values_list("id", flat=True)
    return {str(i): f"/chains/{i}/" for i in found}


class ChainsConfig(AppConfig):
    name = "chains"
    verbose_name = "Chains"

    def ready(self) -> None:
        from observability import links

        links.register("chain", chain_links)
