"""Service settings read from the environment, with defaults for a local developer box."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_PORTS: dict[str, int] = {
    "intake": 8001,
    "scheduling": 8002,
    "session": 8003,
    "coaching": 8004,
    "journey": 8005,
}


class Settings(BaseSettings):
    """Everything a service needs from its environment; names are the env vars (upper-cased)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    service_name: str = Field(default="", description="Set by the service's composition root.")
    deployment: str = Field(
        default="kap",
        pattern=r"^[a-z][a-z0-9]*$",
        description="Prefix of databases and consumer groups, so stacks can share servers.",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 0
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Prepended to every topic name, so several stacks can share one cluster.",
    )
    kafka_topic_partitions: int = Field(default=3, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str = ""
    dev_mode: bool = Field(
        default=False,
        description="Explicit development mode (DEV_MODE=true: the local launcher, tests): "
        "the default JWT secret and a development identity key are accepted only then.",
    )
    jwt_secret: str = "dev-only-insecure-secret-change-me"
    jwt_issuer: str = "kap-care"
    jwt_audience: str = "kap-care"
    jwt_jwks_url: str = Field(
        default="", description="Verify RS256/ES256 tokens with this JWKS; no HS256 then."
    )
    jwt_jwks_file: str = Field(default="", description="Like JWT_JWKS_URL, from a file.")
    jwt_max_ttl_s: int = Field(
        default=12 * 3600, gt=0, description="Tokens valid for longer (exp - iat) are refused."
    )
    identity_keks: str = Field(
        default="",
        description="Key-encryption keys of patients' identity data keys: `id:base64key` "
        "(32 bytes), comma-separated, the first one current (older ones unwrap until rotated).",
    )
    identity_keks_file: str = Field(default="", description="Like IDENTITY_KEKS, from a file.")
    log_level: str = "INFO"
    consumer_max_attempts: int = Field(default=3, ge=1)
    consumer_retry_backoff_s: float = Field(default=0.2, ge=0)
    outbox_poll_interval_s: float = Field(
        default=5.0, gt=0, description="Safety net for crashed relays; commits nudge at once."
    )
    outbox_orphaned_after_s: float = Field(
        default=5.0,
        ge=0,
        description="How long another instance's outbox may wait before this one relays it.",
    )
    sweep_interval_s: float = Field(default=15.0, gt=0)
    consumer_batch_max_records: int = Field(
        default=500, ge=1, description="Records a batch subscriber handles per fetch at most."
    )
    consumer_batch_timeout_ms: int = Field(
        default=20,
        ge=1,
        description="How long a batch subscriber waits for records when none are fetched: "
        "the latency it adds to an idle subscriber's next record is about this much at most "
        "(bench/README.md: measured).",
    )
    consumer_fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        description="How long the broker may hold a fetch that has no records yet.",
    )
    producer_linger_ms: int = Field(
        default=0,
        ge=0,
        description="How long the producer waits to fill a batch before sending. The outbox "
        "relay awaits every publish, so each event waits it in full (bench/README.md: 0 ms "
        "measured best).",
    )
    intake_url: str = Field(
        default="http://127.0.0.1:8001",
        description="Intake's base URL, where the journey asks for identity on a FHIR export "
        "(with the caller's own token, so intake decides who sees it).",
    )

    def for_service(self, name: str) -> Settings:
        """Fill the per-service defaults (port, database) that depend on the service name."""
        return self.model_copy(
            update={
                "service_name": name,
                "http_port": self.http_port or SERVICE_PORTS[name],
                "mongodb_database": self.mongodb_database or f"{self.deployment}_{name}",
            }
        )


def load_settings(service_name: str) -> Settings:
    return Settings().for_service(service_name)
