"""Load realistic demo leads into crm_leads: `python -m tools.demo_data [--force] [--count N]`.

Settings: DEMO_LEADS (rows to load, default 1,000,000) and DEMO_SEED (default 42). The layout
of the first ids is fixed, because usage examples and tests rely on it:

- ids 1..10000 belong to cliente 1, except ids with id % 50 == 5, which belong to cliente 2
  (so a change of lead 5 with a client-1 token fails with `Sin permiso`);
- ids with id % 1000 == 999 do not exist, like deleted leads (lead 999 fails with
  `Lead no encontrado`);
- higher ids belong to random clients 1..50; providers are 101..120.
"""

import argparse
import asyncio
import itertools
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
from faker import Faker
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.logs import configure_logging, get_logger
from shared.settings import Settings

log = get_logger(__name__)

BATCH_SIZE = 50_000

FIXED_LAYOUT_MAX_ID = 10_000
FIXED_CLIENT = 1
OTHER_CLIENT = 2
CLIENT_IDS = range(1, 51)
PROVIDER_IDS = range(101, 121)

LEAD_COLUMNS = [
    "id", "proveedor_id", "cliente_id", "proveedor_lead_id", "nombre", "telefono",
    "producto", "precio", "estado_actual", "created_at", "updated_at",
]  # fmt: skip

# Most leads wait for a first call or were just contacted; few reach the later states.
ESTADO_WEIGHTS = {
    "EN_ESPERA": 45,
    "CONTACTADO": 25,
    "APROBADO": 10,
    "CONFIRMADO": 7,
    "EN_TRANSITO": 6,
    "EN_BODEGA": 4,
    "CANCELADO": 3,
}

# Base products of a logistics / e-commerce catalog with their price range in MXN.
PRODUCT_CATALOG = [
    ("Audífonos inalámbricos", 299, 1899),
    ("Bocina Bluetooth", 349, 2499),
    ("Smartwatch deportivo", 499, 3999),
    ("Cargador rápido USB-C", 149, 599),
    ("Batería portátil 20000 mAh", 299, 999),
    ("Funda para celular", 99, 349),
    ("Mochila antirrobo", 399, 1299),
    ("Freidora de aire 4 L", 899, 2999),
    ("Licuadora de alta potencia", 699, 2499),
    ("Cafetera de goteo", 499, 1599),
    ("Aspiradora robot", 2499, 8999),
    ("Juego de sartenes antiadherentes", 599, 2199),
    ("Lámpara LED de escritorio", 199, 799),
    ("Tenis para correr", 699, 2499),
    ("Faja moldeadora", 249, 899),
    ("Set de brochas de maquillaje", 149, 599),
    ("Crema facial hidratante", 129, 699),
    ("Perfume", 399, 2499),
    ("Reloj de pulsera", 349, 2999),
    ("Lentes de sol polarizados", 199, 1299),
    ("Báscula digital", 199, 699),
    ("Cámara de seguridad Wi-Fi", 499, 1899),
    ("Foco inteligente", 149, 449),
    ("Tira LED RGB 5 m", 199, 599),
    ("Teclado mecánico", 699, 2499),
    ("Mouse inalámbrico", 149, 799),
    ("Soporte para laptop", 249, 899),
    ("Silla de oficina ergonómica", 1999, 6999),
    ("Termo de acero inoxidable", 199, 799),
    ("Tapete de yoga", 249, 899),
    ("Mancuernas ajustables", 899, 3999),
    ("Bicicleta estática", 3499, 9999),
    ("Kit de herramientas", 399, 1899),
    ("Taladro inalámbrico", 899, 2999),
    ("Juguete didáctico", 199, 899),
    ("Carriola plegable", 1999, 6999),
    ("Pañalera", 399, 1299),
    ("Alimento para perro 15 kg", 599, 1499),
    ("Cama para mascota", 299, 999),
    ("Organizador de cocina", 149, 499),
]

COLORS = ["Negro", "Blanco", "Gris", "Azul", "Rojo", "Rosa", "Verde", "Plata", "Dorado"]
PRICE_ENDINGS = ["00", "90", "99"]

# Two-digit area codes for the three largest metro areas, three digits elsewhere; the national
# number always has ten digits.
AREA_CODES = [
    "55",
    "33",
    "81",
    "222",
    "442",
    "477",
    "614",
    "664",
    "686",
    "998",
    "999",
    "961",
    "744",
]

NAME_POOL_SIZE = 400
FULL_NAME_POOL_SIZE = 100_000
PRODUCT_VARIANTS_PER_BASE = 20
HISTORY_DAYS = 365
MAX_UPDATE_DELAY_S = 20 * 24 * 3600

# Any odd multiplier not divisible by 5 is coprime with 10**n; these digits are arbitrary.
PHONE_MULTIPLIER = 7_919_393
PHONE_OFFSET = 31_415_926


class DemoSettings(BaseSettings):
    """How many demo leads to load and the seed that makes the load repeatable."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    demo_leads: int = Field(default=1_000_000, ge=0)
    demo_seed: int = 42


class DemoDataError(RuntimeError):
    """The demo data cannot be loaded as requested."""


@dataclass(frozen=True)
class Pools:
    """Values built once with Faker and then combined per row by a seeded random generator."""

    first_names: list[str]
    last_names: list[str]
    products: list[tuple[str, Decimal]]


def unique_values(make: Callable[[], str], size: int) -> list[str]:
    """Call make until size distinct values are collected, or 20 * size calls were made."""
    values: dict[str, None] = {}
    for _ in range(20 * size):
        values[make()] = None
        if len(values) == size:
            break
    return list(values)


def catalog_price(rng: random.Random, low: int, high: int) -> Decimal:
    """Draw a retail-looking price such as 1299.00, 349.90 or 899.99 within [low, high]."""
    return Decimal(f"{rng.randint(low, high)}.{rng.choice(PRICE_ENDINGS)}")


def build_products(faker: Faker, rng: random.Random) -> list[tuple[str, Decimal]]:
    """Build catalog entries: base product, model code and color, each with its list price."""
    products = []
    for base, low, high in PRODUCT_CATALOG:
        for _ in range(PRODUCT_VARIANTS_PER_BASE):
            model = faker.bothify("??-###", letters="ABCDEFGHJKLMNPRSTUVXZ")
            name = f"{base} {model} {rng.choice(COLORS)}"
            products.append((name, catalog_price(rng, low, high)))
    return products


def build_pools(seed: int) -> Pools:
    """Build the name and product pools deterministically from seed."""
    faker = Faker("es_MX")
    faker.seed_instance(seed)
    rng = random.Random(seed)

    return Pools(
        first_names=unique_values(faker.first_name, NAME_POOL_SIZE),
        last_names=unique_values(faker.last_name, NAME_POOL_SIZE),
        products=build_products(faker, rng),
    )


def lead_ids() -> Iterator[int]:
    """Yield lead ids from 1 upward, skipping the ids of deleted leads (id % 1000 == 999)."""
    return (lead_id for lead_id in itertools.count(1) if lead_id % 1000 != 999)


def fixed_client(lead_id: int) -> int:
    """Return the cliente_id of a lead in the fixed layout of ids up to FIXED_LAYOUT_MAX_ID."""
    return OTHER_CLIENT if lead_id % 50 == 5 else FIXED_CLIENT


# Zero-padded digit groups, joined per row; far cheaper than formatting numbers per row.
DIGITS_4 = [f"{n:04d}" for n in range(10_000)]
DIGITS_3 = [f"{n:03d}" for n in range(1_000)]


def phone_number(lead_id: int, area: str) -> str:
    """Return a ten-digit Mexican number such as `+52 55 1234 5678`, distinct for each lead id.

    Multiplying by a number coprime with the modulus spreads consecutive ids over the range
    without collisions, and costs far less than drawing random digits per row.
    """
    subscriber = (lead_id * PHONE_MULTIPLIER + PHONE_OFFSET) % 10 ** (10 - len(area))
    head = DIGITS_4[subscriber // 10_000] if len(area) == 2 else DIGITS_3[subscriber // 10_000]
    return "+52 " + area + " " + head + " " + DIGITS_4[subscriber % 10_000]


class LeadGenerator:
    """Produces lead rows in batches, in the column order of LEAD_COLUMNS."""

    def __init__(self, pools: Pools, seed: int, count: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now_ts = now.timestamp()
        self.start_ts = self.now_ts - HISTORY_DAYS * 24 * 3600
        self.step_s = HISTORY_DAYS * 24 * 3600 / max(count, 1)
        self.rows_made = 0
        self.ids = lead_ids()
        self.provider_counters = dict.fromkeys(PROVIDER_IDS, 0)
        self.products = pools.products
        self.full_names = self.combine_names(pools)

    def combine_names(self, pools: Pools) -> list[str]:
        """Combine first name, paternal and maternal surname into FULL_NAME_POOL_SIZE names."""
        choice = self.rng.choice
        return [
            f"{choice(pools.first_names)} {choice(pools.last_names)} {choice(pools.last_names)}"
            for _ in range(FULL_NAME_POOL_SIZE)
        ]

    def provider_lead_ids(self, providers: list[int]) -> list[str]:
        """Return each provider's own next lead id, `PRV<proveedor>-<n>`."""
        counters = self.provider_counters
        result = []
        for proveedor_id in providers:
            counters[proveedor_id] += 1
            result.append(f"PRV{proveedor_id}-{counters[proveedor_id]}")
        return result

    def clients(self, ids: list[int]) -> list[int]:
        """Return the cliente_id of each lead: the fixed layout first, random clients after it."""
        clients = self.rng.choices(CLIENT_IDS, k=len(ids))
        for index, lead_id in enumerate(ids):
            if lead_id > FIXED_LAYOUT_MAX_ID:
                break
            clients[index] = fixed_client(lead_id)
        return clients

    def created_times(self, size: int) -> list[float]:
        """Return creation times as Unix seconds, rising with the id over the last HISTORY_DAYS."""
        random_fraction = self.rng.random
        first = self.rows_made
        step = self.step_s
        start = self.start_ts
        return [start + (first + offset + random_fraction()) * step for offset in range(size)]

    def updated_times(self, created: list[float], estados: list[str]) -> list[float]:
        """Return when each lead last changed: at creation while waiting, else up to 20 days later."""
        random_fraction = self.rng.random
        now = self.now_ts
        return [
            created_ts
            if estado == "EN_ESPERA"
            else min(created_ts + random_fraction() * MAX_UPDATE_DELAY_S, now)
            for created_ts, estado in zip(created, estados)
        ]

    def batch(self, size: int) -> list[tuple]:
        """Return the next size rows, built column by column with bulk random draws."""
        rng = self.rng
        ids = list(itertools.islice(self.ids, size))
        providers = rng.choices(PROVIDER_IDS, k=size)
        products = rng.choices(self.products, k=size)
        estados = rng.choices(list(ESTADO_WEIGHTS), weights=list(ESTADO_WEIGHTS.values()), k=size)
        areas = rng.choices(AREA_CODES, k=size)
        created = self.created_times(size)
        self.rows_made += size

        return list(zip(
            ids,
            providers,
            self.clients(ids),
            self.provider_lead_ids(providers),
            rng.choices(self.full_names, k=size),
            [phone_number(lead_id, area) for lead_id, area in zip(ids, areas)],
            [name for name, _ in products],
            [price for _, price in products],
            estados,
            [datetime.fromtimestamp(ts, UTC) for ts in created],
            [datetime.fromtimestamp(ts, UTC) for ts in self.updated_times(created, estados)],
        ))  # fmt: skip


async def lead_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM crm_leads")


async def truncate_lead_tables(conn: asyncpg.Connection) -> None:
    """Empty the leads and everything recorded about them, restarting their id sequences."""
    await conn.execute(
        "TRUNCATE crm_leads, crm_lead_status_history, crm_notifications,"
        " crm_bulk_job_chunks, crm_bulk_jobs RESTART IDENTITY"
    )
    log.info("demo_tables_truncated")


async def generated_rows(generator: LeadGenerator, count: int) -> AsyncIterator[tuple]:
    """Yield count rows, generated BATCH_SIZE at a time, logging progress after each batch."""
    started = time.monotonic()
    made = 0
    while made < count:
        rows = generator.batch(min(BATCH_SIZE, count - made))
        for row in rows:
            yield row
        made += len(rows)
        log.info(
            "demo_batch_generated",
            rows=made,
            of=count,
            elapsed_ms=round((time.monotonic() - started) * 1000),
        )


async def copy_leads(conn: asyncpg.Connection, generator: LeadGenerator, count: int) -> None:
    """Stream count generated rows into crm_leads with one COPY.

    One COPY fed by an async generator lets PostgreSQL parse and index rows already sent while
    Python builds the next batch, which makes the load faster than one COPY per batch.
    """
    await conn.copy_records_to_table(
        "crm_leads", records=generated_rows(generator, count), columns=LEAD_COLUMNS
    )


async def reset_id_sequence(conn: asyncpg.Connection) -> None:
    """Move the identity sequence past the explicit ids, so later inserts do not collide."""
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('crm_leads', 'id'), max(id))"
        " FROM crm_leads HAVING count(*) > 0"
    )


async def load_demo_data(
    conn: asyncpg.Connection, count: int, seed: int, *, force: bool = False
) -> int:
    """Load count demo leads into an empty crm_leads and return its row count afterwards.

    Raises DemoDataError when the table has rows, unless force is set, which first truncates
    crm_leads and the history, notification and bulk-job tables. The load is one transaction.
    """
    started = time.monotonic()
    async with conn.transaction():
        # Serialises concurrent loaders; plain reads of crm_leads go on meanwhile.
        await conn.execute("LOCK TABLE crm_leads IN EXCLUSIVE MODE")
        existing = await lead_count(conn)
        if existing and not force:
            raise DemoDataError(
                f"crm_leads already has {existing} rows; pass --force to replace them"
            )
        if existing:
            await truncate_lead_tables(conn)

        generator = LeadGenerator(build_pools(seed), seed, count, datetime.now(UTC))
        await copy_leads(conn, generator, count)
        await reset_id_sequence(conn)

    await conn.execute("ANALYZE crm_leads")
    total = await lead_count(conn)
    log.info(
        "demo_data_loaded",
        rows=total,
        seed=seed,
        elapsed_ms=round((time.monotonic() - started) * 1000),
    )
    return total


def parse_args(argv: list[str] | None, defaults: DemoSettings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo_data", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--count", type=int, default=defaults.demo_leads, help="rows to load (default: DEMO_LEADS)"
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.demo_seed, help="random seed (default: DEMO_SEED)"
    )
    parser.add_argument(
        "--force", action="store_true", help="truncate the lead and job tables first"
    )
    args = parser.parse_args(argv)

    if args.count < 0:
        parser.error(f"--count must not be negative, got {args.count}")
    return args


async def run(database_url: str, args: argparse.Namespace) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        await load_demo_data(conn, args.count, args.seed, force=args.force)
    except DemoDataError as err:
        log.error("demo_data_rejected", reason=str(err))
        return 1
    finally:
        await conn.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, DemoSettings())
    os.environ.setdefault("APP_ENV", "development")
    settings = Settings()
    configure_logging(settings)

    # Without this guard the settings default would load a million rows into whatever
    # database listens on 127.0.0.1:5432.
    if "DATABASE_URL" not in os.environ:
        log.error(
            "demo_data_rejected",
            reason="DATABASE_URL is not set; use `make demo-data` for the embedded server",
        )
        return 2
    return asyncio.run(run(settings.database_url, args))


if __name__ == "__main__":
    sys.exit(main())
