"""``include_in_community`` for both clients (the native routes exist on zenodo.org next to the deposit API):
a mixin for a client class with a ``transport``. The native modules are imported when it is used, so the legacy
client's start does not pay for them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ossr_images.zenodo.models import Review
    from ossr_images.zenodo.transport import Transport


class Inclusions:
    """Inclusion requests of published records (:func:`ossr_images.zenodo.rdm_reviews.include`)."""

    transport: Transport

    def include_in_community(
        self, record_id: int | str, community: str, present: tuple[str, ...]
    ) -> Review | None:
        """Ask the community (slug) to include the published record, unless it is in it (``present``) or an
        earlier request exists (returned): ``POST /records/{id}/communities``, found again with
        ``GET /records/{id}/requests``."""
        from ossr_images.zenodo import rdm_reviews

        return rdm_reviews.include(self.transport, record_id, community, present)


__all__ = ["Inclusions"]
