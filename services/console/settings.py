"""The console's settings: where the services are, how people sign in, display timings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.settings import Settings

CONSOLE_PORT = 8006


class ConsoleSettings(BaseSettings):
    """Names are the environment variables (upper-cased). The console owns no data: it needs
    only the services' base URLs and the token settings they verify with."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = CONSOLE_PORT
    intake_url: str = "http://127.0.0.1:8001"
    scheduling_url: str = "http://127.0.0.1:8002"
    session_url: str = "http://127.0.0.1:8003"
    coaching_url: str = "http://127.0.0.1:8004"
    journey_url: str = "http://127.0.0.1:8005"
    console_dev_sign_in: bool = Field(
        default=False,
        description="Offer the demo people of config/network.yaml at /sign-in, with tokens "
        "minted from JWT_SECRET. Development only: never on in production.",
    )
    console_cookie_secure: bool = Field(
        default=False, description="Mark the session cookie Secure (set it behind TLS)."
    )
    console_sse_interval_s: float = Field(default=5.0, gt=0, le=60)
    console_oidc_issuer: str = Field(
        default="", description="OpenID Connect issuer URL (production sign-in)."
    )
    console_oidc_client_id: str = ""
    console_oidc_client_secret: str = ""
    console_oidc_role_claim: str = "kap_role"
    console_oidc_sites_claim: str = "kap_sites"
    jwt: Settings = Field(default_factory=Settings, exclude=True)

    def service_urls(self) -> dict[str, str]:
        return {
            "intake": self.intake_url,
            "scheduling": self.scheduling_url,
            "session": self.session_url,
            "coaching": self.coaching_url,
            "journey": self.journey_url,
        }
