"""One settings object, read from the environment (prefix ``GOVLEDGER_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``GOVLEDGER_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GOVLEDGER_", extra="ignore")

    data_dir: Path = Field(
        default=PROJECT_ROOT / "data",
        description="Where the local chain state, deployment record and content store live.",
    )
    rpc_url: str = Field(
        default="",
        description="JSON-RPC endpoint of the EVM chain; unset means the local anvil at "
        "http://<chain_host>:<chain_port>.",
    )
    chain_host: str = Field(default="127.0.0.1", description="Address the local anvil binds.")
    chain_port: int = Field(default=8545, description="Port the local anvil listens on.")
    chain_id: int = Field(default=31337, description="Chain id of the local anvil.")
    deployer_key: str | None = Field(
        default=None,
        description="Private key that deploys the contracts and relays signed actions "
        "(defaults to anvil's first dev account on the local chain).",
    )
    founders: list[str] = Field(
        default_factory=list,
        description="Founding members at deployment, as a JSON list of addresses "
        "(defaults to anvil's dev accounts 1-3 on the local chain).",
    )
    quorum_bps: int = Field(
        default=5001, description="For votes that approve, in basis points of the members."
    )
    voting_period_s: int = Field(default=3 * 24 * 3600, description="Seconds a ballot stays open.")
    ipfs_api_url: str | None = Field(
        default=None,
        description="Base URL of a kubo RPC API (e.g. http://127.0.0.1:5001); "
        "unset means the embedded content store under data_dir.",
    )
    ipfs_timeout_s: float = Field(default=60.0, description="Timeout of one kubo RPC call.")

    service_host: str = Field(default="127.0.0.1", description="Address the REST service binds.")
    service_port: int = Field(default=8000, description="Port of the REST service.")
    max_upload_bytes: int = Field(
        default=2 * 1024**3, description="Largest artifact an upload may carry, in bytes."
    )
    max_metadata_bytes: int = Field(
        default=256 * 1024, description="Largest metadata document, in bytes (one raw block)."
    )
    metadata_quota_documents: int = Field(
        default=1000,
        description="Metadata documents one account may store per rolling 24 hours.",
    )
    metadata_quota_bytes: int = Field(
        default=64 * 1024**2,
        description="Bytes of metadata documents one account may store per rolling 24 hours.",
    )
    metadata_signature_ttl_s: int = Field(
        default=3600,
        description="Furthest a StoreMetadata signature's deadline may lie ahead of the "
        "service's clock, in seconds.",
    )
    gc_grace_s: int = Field(
        default=24 * 3600,
        description="How long a pinned root that nothing on chain references is kept before "
        "garbage collection unpins it, in seconds (counted from when it was pinned).",
    )
    gc_interval_s: int = Field(
        default=3600,
        description="Seconds between the service's garbage collections of the content store; "
        "0 turns them off (`govledger store gc` still works).",
    )
    siwe_domain: str = Field(
        default="",
        description="The domain Sign-In with Ethereum messages must name; unset means "
        "<service_host>:<service_port>.",
    )
    session_ttl_s: int = Field(default=3600, description="Lifetime of a sign-in session.")
    signature_ttl_s: int = Field(
        default=3600, description="Deadline given to actions prepared by the service, in seconds."
    )
    max_deadline_s: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="Latest deadline the service relays, in seconds after chain time: a "
        "signature valid for longer is refused (sign again with an earlier deadline).",
    )
    chain_timeout_s: float = Field(
        default=5.0, gt=0, description="Bound on one JSON-RPC call to the chain node."
    )
    receipt_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a request waits for its transaction to be mined; the action stays "
        "journaled and is applied later if it is not mined by then.",
    )
    relay_suspension_s: int = Field(
        default=600,
        ge=0,
        description="How long relaying stays suspended for an actor after a transaction relayed "
        "for it passed its simulation and then reverted on chain (the relayer paid for it).",
    )
    update_batch_max: int = Field(
        default=16,
        ge=1,
        le=64,
        description="Most federated updates the relayer records in one transaction "
        "(submitUpdatesBySig) when several wait to be sent at once; 1 sends each alone.",
    )
    journal_check_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="How often the journal compares its mined actions with the chain (rollback "
        "detection) and finishes actions a crash interrupted.",
    )
    index_enabled: bool = Field(
        default=True,
        description="Keep the event index (SQLite in the data dir) and answer model lists and "
        "timelines from it; off: every list reads the chain.",
    )
    index_confirmations: int = Field(
        default=0,
        ge=0,
        description="Blocks the index stays behind the chain's latest block (0 on the local "
        "chain; more on a chain that reorganises). Reads take the newer blocks from the chain.",
    )
    index_interval_s: float = Field(
        default=1.0, gt=0, description="How often the index follows the chain, in seconds."
    )

    build_concurrency: int = Field(
        default=1, ge=1, le=8, description="Build jobs that run at once (worker threads)."
    )
    build_queue_limit: int = Field(
        default=4,
        ge=1,
        description="Build jobs that may be queued or running at once (429 beyond).",
    )
    build_threads: int = Field(
        default=1, ge=1, le=64, description="Intra-op threads of the runtimes a build measures."
    )
    build_measure_seconds: float = Field(
        default=2.0,
        gt=0,
        le=120,
        description="Seconds a build times each candidate at each batch size (over all rounds).",
    )
    build_measure_rounds: int = Field(
        default=5, ge=1, le=50, description="Interleaved timing rounds of a build's measurement."
    )
    max_evaluation_bytes: int = Field(
        default=16 * 1024**2, description="Largest evaluation set (safetensors), in bytes."
    )
    predict_threads: int = Field(
        default=1, ge=1, le=64, description="Intra-op threads of a prediction session."
    )
    predict_cache_size: int = Field(
        default=8, ge=1, description="ONNX Runtime sessions kept loaded for prediction."
    )
    max_predict_bytes: int = Field(
        default=8 * 1024**2, description="Largest prediction request body, in bytes."
    )
    max_predict_rows: int = Field(
        default=4096, ge=1, description="Most rows one prediction request may carry."
    )

    @model_validator(mode="after")
    def _default_rpc_url(self) -> Settings:
        if not self.rpc_url:
            self.rpc_url = f"http://{self.chain_host}:{self.chain_port}"
        if not self.siwe_domain:
            self.siwe_domain = f"{self.service_host}:{self.service_port}"
        return self

    @property
    def service_url(self) -> str:
        return f"http://{self.service_host}:{self.service_port}"

    @property
    def deployment_file(self) -> Path:
        return self.data_dir / "deployment.json"

    @property
    def chain_state_file(self) -> Path:
        return self.data_dir / "chain" / "anvil-state.json"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def journal_file(self) -> Path:
        return self.data_dir / "journal.sqlite3"

    @property
    def bookkeeping_file(self) -> Path:
        return self.data_dir / "bookkeeping.sqlite"

    @property
    def index_file(self) -> Path:
        return self.data_dir / "index.sqlite"

    @property
    def builds_file(self) -> Path:
        return self.data_dir / "builds.sqlite"


@lru_cache
def get_settings() -> Settings:
    return Settings()
