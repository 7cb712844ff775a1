"""A stream entry decoded into the chunk of work it carries."""

from dataclasses import dataclass

from shared.lead_repository import BatchRequest


class MalformedEntry(ValueError):
    """A stream entry missing fields or carrying values that cannot be decoded."""


@dataclass(frozen=True)
class ChunkTask:
    entry_id: str
    job_id: str
    chunk: int
    request_seq: int
    user_id: int
    is_admin: bool
    estado: str
    history_text: str
    lead_ids: list[int]
    # Set on an entry that an operator moved back from the dead-letter stream.
    replay: bool = False
    # How many times the group has delivered this entry, this delivery included.
    deliveries: int = 1

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: dict[bytes, bytes]) -> "ChunkTask":
        entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        try:
            return cls(
                entry_id=entry,
                job_id=fields[b"job"].decode(),
                chunk=int(fields[b"chunk"]),
                request_seq=int(fields[b"seq"]),
                user_id=int(fields[b"user"]),
                is_admin=fields[b"admin"] == b"1",
                estado=fields[b"estado"].decode(),
                history_text=fields[b"obs"].decode(),
                lead_ids=[int(lead_id) for lead_id in fields[b"ids"].split(b",")],
                replay=fields.get(b"replay") == b"1",
            )
        except (KeyError, ValueError, UnicodeDecodeError) as error:
            raise MalformedEntry(f"stream entry {entry} cannot be decoded: {error!r}") from error

    def batch(self) -> BatchRequest:
        return BatchRequest(
            lead_ids=self.lead_ids,
            estado=self.estado,
            request_seq=self.request_seq,
            actor_user_id=self.user_id,
            is_admin=self.is_admin,
            observaciones=self.history_text,
            job_id=self.job_id,
            chunk=self.chunk,
        )
