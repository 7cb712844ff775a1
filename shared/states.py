"""Lead state catalog and the normalisation of state names given by callers."""

import time
import unicodedata
from dataclasses import dataclass, field

import asyncpg

CANONICAL_STATES = (
    "EN_ESPERA",
    "CONTACTADO",
    "APROBADO",
    "CONFIRMADO",
    "EN_TRANSITO",
    "EN_BODEGA",
    "CANCELADO",
)


def normalize_name(raw: str) -> str:
    """Trim, drop accents, upper-case and join words with underscores: ' en tránsito ' -> EN_TRANSITO."""
    decomposed = unicodedata.normalize("NFKD", raw.strip())
    without_accents = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "_".join(without_accents.upper().split())


@dataclass
class StateCatalog:
    """Canonical states and their aliases, both stored normalised."""

    states: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.monotonic)

    def resolve(self, raw: str) -> str | None:
        """Return the canonical state for a caller's spelling, or None when it is unknown."""
        name = normalize_name(raw)
        if name in self.states:
            return name
        return self.aliases.get(name)


DEFAULT_CATALOG = StateCatalog(
    states=CANONICAL_STATES,
    aliases={
        "APROVADO": "APROBADO",
        "APPROVED": "APROBADO",
        "CANCELAR": "CANCELADO",
        "CANCELLED": "CANCELADO",
        "CANCELED": "CANCELADO",
        "CONFIRMAR": "CONFIRMADO",
        "CONFIRMED": "CONFIRMADO",
        "TRANSITO": "EN_TRANSITO",
        "TRANSIT": "EN_TRANSITO",
        "BODEGA": "EN_BODEGA",
        "WAREHOUSE": "EN_BODEGA",
        "ESPERA": "EN_ESPERA",
        "PENDING": "EN_ESPERA",
        "WAITING": "EN_ESPERA",
        "CONTACTED": "CONTACTADO",
    },
)


async def load_catalog(conn: asyncpg.Connection | asyncpg.Pool) -> StateCatalog:
    """Read the catalog tables, so operators can add states or aliases without a release."""
    state_rows = await conn.fetch("SELECT estado FROM crm_estados ORDER BY sort_order, estado")
    alias_rows = await conn.fetch("SELECT alias, estado FROM crm_estado_aliases")
    states = tuple(normalize_name(row["estado"]) for row in state_rows)
    aliases = {normalize_name(row["alias"]): normalize_name(row["estado"]) for row in alias_rows}
    return StateCatalog(states=states, aliases=aliases)
